/**
 * The memory audit-verify's bookkeeping takes as the chain grows (issue 19):
 * the ids and stream versions of checks 5 and 6 (verifier/seenRecords.ts)
 * for N records, each on its own stream (the worst case: one version kept per
 * record), without the signatures, whose cost does not depend on N. Run once
 * per process, so that the process's peak RSS is this run's alone.
 *
 *   node --import tsx bench/verifyMemory.ts --records 10000000 --budget 256
 *   node --import tsx bench/verifyMemory.ts --records 1000000 --budget none   (everything in memory)
 */
import { parseArgs } from 'node:util';
import { loadavg } from 'node:os';
import { SeenRecords } from '../verifier/seenRecords.ts';
import { spillFolder } from '../infra/adapters/files/spillFolder.ts';

const PAGE_RECORDS = 1000;
const MIB = 1024 * 1024;

const { values } = parseArgs({ options: { records: { type: 'string' }, budget: { type: 'string' } } });
const records = Number(values.records ?? 1_000_000);
const budget = values.budget ?? '256';
const bookkeeping = budget === 'none' ? undefined : { budgetBytes: Number(budget) * MIB, spill: spillFolder() };

/** Distinct ids in no sorted order (the first word scrambled), as a chain's ids are. */
const uuid = (n: number): string =>
  `${(Math.imul(n, 2654435761) >>> 0).toString(16).padStart(8, '0')}-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;

const rssBefore = process.memoryUsage().rss;
const seen = new SeenRecords(bookkeeping);
seen.startChain(0, 1);
const started = performance.now();
let problems = 0;
for (let seq = 1; seq <= records; seq++) {
  if (seen.version(`order-${seq}`, 1, seq) !== undefined) problems++;
  if (!seen.id(uuid(seq), seq)) problems++;
  if (seq % PAGE_RECORDS === 0) await seen.settle();
}
const checkedMs = performance.now() - started;
const streamFinding = await seen.endChain();
const idFinding = await seen.end();
const totalMs = performance.now() - started;
await seen.close();
const maxRssMiB = Math.round((process.resourceUsage().maxRSS * 1024) / MIB);
console.log(
  `${records.toLocaleString('en-US')} records, budget ${budget === 'none' ? 'none (all in memory)' : `${budget} MiB`}: ` +
    `${Math.round(checkedMs / 1000)} s through the records, ${Math.round((totalMs - checkedMs) / 1000)} s merging; ` +
    `${seen.spilled ? 'spilled' : 'in memory'}; peak RSS ${maxRssMiB} MiB (${Math.round(rssBefore / MIB)} MiB at start); ` +
    `findings ${problems + (streamFinding ? 1 : 0) + (idFinding ? 1 : 0)}; load ${loadavg()
      .map((value) => value.toFixed(1))
      .join(' ')}`,
);
