/** A verifier worker: checks pages of record lines (verifier/line.ts) against the registry it was started with. */
import { parentPort, workerData } from 'node:worker_threads';
import { parseRegistry } from '../../../chain/registry.ts';
import type { DelegationData } from '../../../chain/delegation.ts';
import { delegationTable } from '../../../verifier/inProcessChecker.ts';
import { checkLine, type LineCheckOptions } from '../../../verifier/line.ts';

export interface CheckRequest {
  id: number;
  lines: readonly string[];
}

const data = workerData as { registry: unknown; options?: LineCheckOptions };
const registry = parseRegistry(data.registry);
const options = data.options ?? {};
const table = delegationTable();
parentPort!.on('message', (message: CheckRequest | { delegation: DelegationData }) => {
  if ('delegation' in message) {
    table.learn(message.delegation);
    return;
  }
  parentPort!.postMessage({
    id: message.id,
    checks: message.lines.map((line) => checkLine(line, registry, table.delegations, options)),
  });
});
