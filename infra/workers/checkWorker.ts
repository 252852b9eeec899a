/** A verifier worker: checks pages of record lines (verifier/line.ts) against the registry it was started with. */
import { parentPort, workerData } from 'node:worker_threads';
import { parseRegistry } from '../../chain/registry.ts';
import { checkLine } from '../../verifier/line.ts';

export interface CheckRequest {
  id: number;
  lines: readonly string[];
}

const registry = parseRegistry((workerData as { registry: unknown }).registry);
parentPort!.on('message', ({ id, lines }: CheckRequest) => {
  parentPort!.postMessage({ id, checks: lines.map((line) => checkLine(line, registry)) });
});
