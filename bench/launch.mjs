#!/usr/bin/env node
// Runs a TypeScript benchmark the way bin/chainbook.js runs the CLI: tsx is
// registered at run time, so worker threads (signature checks) start through
// infra/workers/boot.mjs and get it too. `node --import tsx` alone does not
// reach worker threads on Node 20.
//   node bench/launch.mjs bench/replay.ts --events 1000000
import 'tsx';
import { pathToFileURL } from 'node:url';

const [script, ...rest] = process.argv.slice(2);
if (!script) {
  process.stderr.write('usage: node bench/launch.mjs bench/<benchmark>.ts [options]\n');
  process.exit(2);
}
process.argv = [process.argv[0], script, ...rest];
await import(pathToFileURL(script).href);
