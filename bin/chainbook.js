#!/usr/bin/env node
// The chainbook CLI. The code is TypeScript run through tsx; importing its
// loader registers it for this process (workers get it from tsWorker).
import 'tsx';

const { main } = await import('../infra/entrypoints/cli/main.ts');
process.exitCode = await main(process.argv);
