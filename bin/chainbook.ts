// The chainbook CLI from the TypeScript source, for development and the tests:
// `node --import tsx bin/chainbook.ts <command>` (worker threads register tsx themselves:
// infra/adapters/workers/tsWorker.ts). bin/chainbook.js runs the compiled build instead.
import { main } from '../infra/entrypoints/cli/main.ts';

process.exitCode = await main(process.argv);
