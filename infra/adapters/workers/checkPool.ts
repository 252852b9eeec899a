/**
 * A LineChecker on worker threads: pages go to the least busy worker, results
 * come back by request id. Signature checks are the cost of audit-verify, so
 * this is what makes it use every core.
 */
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { registryJson, type SignerRegistry } from '../../../chain/registry.ts';
import type { LineCheck } from '../../../verifier/line.ts';
import { delegationTable } from '../../../verifier/inProcessChecker.ts';
import { checkLine, documentSignatureProblem, type LineCheckOptions } from '../../../verifier/line.ts';
import type { LineChecker } from '../../../verifier/reader.ts';
import { tsWorker } from './tsWorker.ts';

interface Lane {
  worker: Worker;
  busy: number;
}

export function workerChecker(
  registry: SignerRegistry,
  threads = availableParallelism(),
  options: LineCheckOptions = {},
): LineChecker {
  const pending = new Map<
    number,
    { resolve: (checks: LineCheck[]) => void; reject: (error: Error) => void; lane: Lane }
  >();
  let nextId = 0;
  const failAll = (error: Error): void => {
    for (const [id, request] of pending) {
      pending.delete(id);
      request.reject(error);
    }
  };
  const lanes: Lane[] = Array.from({ length: Math.max(1, threads) }, () => {
    const worker = tsWorker(new URL('./checkWorker.ts', import.meta.url), {
      workerData: { registry: registryJson(registry), options },
    });
    const lane: Lane = { worker, busy: 0 };
    worker.on('message', ({ id, checks }: { id: number; checks: LineCheck[] }) => {
      const request = pending.get(id);
      if (!request) return;
      pending.delete(id);
      lane.busy -= 1;
      request.resolve(checks);
    });
    worker.on('error', failAll);
    worker.on('exit', (code) => {
      if (code !== 0) failAll(new Error(`verifier worker exited with code ${code}`));
    });
    return lane;
  });
  const table = delegationTable();
  return {
    learnDelegation(delegation) {
      table.learn(delegation);
      // Messages reach a worker in order: every page posted after this one sees the delegation.
      for (const lane of lanes) lane.worker.postMessage({ delegation });
    },
    recheck: (line) => checkLine(line, registry, table.delegations, options),
    isRegistered: (kid) => registry.signers.has(kid),
    // Rare (one per approved manifest or issued proof): checked on the calling thread.
    documentSignatureProblem: (signature, tsMs, message) =>
      documentSignatureProblem(registry, signature, tsMs, message, options),
    check(lines) {
      const lane = lanes.reduce((least, candidate) => (candidate.busy < least.busy ? candidate : least));
      const id = nextId++;
      lane.busy += 1;
      return new Promise<LineCheck[]>((resolve, reject) => {
        pending.set(id, { resolve, reject, lane });
        lane.worker.postMessage({ id, lines });
      });
    },
    async close() {
      await Promise.all(lanes.map((lane) => lane.worker.terminate()));
    },
  };
}
