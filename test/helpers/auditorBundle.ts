/**
 * A real audit bundle of many records for the auditor page's tests and its
 * benchmark: records appended through the runtime (group commit, the
 * Merkle tree's tiles), signed checkpoints made as `serve` makes them,
 * exported to a folder archive, and bundled as `chainbook audit-bundle`
 * bundles (checkpoints, inclusion proof files, the auditor page).
 */
import { randomBytes } from 'node:crypto';
import { writeAuditBundle, type BundleReport } from '../../archive/auditBundle.ts';
import { auditorPage } from '../../infra/adapters/files/auditorPage.ts';
import { auditorCheckScript, bundleFolder } from '../../infra/adapters/files/bundleFolder.ts';
import { zlibCompression } from '../../infra/adapters/objectStores/gzip.ts';
import { FolderStore } from '../../infra/adapters/objectStores/folderStore.ts';
import { sqlBundleTree } from '../../infra/adapters/sql/bundleTree.ts';
import { checkpointing } from '../../infra/wiring/checkpoints.ts';
import type { Runtime } from '../../infra/wiring/runtime.ts';
import { inProcessChecker } from '../../verifier/inProcessChecker.ts';
import { exportTo, SERVICE } from './archive.ts';

/** Events per append (the most one append takes) and appends in flight while filling. */
const EVENTS_PER_APPEND = 100;
const APPENDS_IN_FLIGHT = 4;

/** Appends `records` records to chain main, about 300 bytes each, `APPENDS_IN_FLIGHT` appends at a time. */
export async function appendRecords(runtime: Pick<Runtime, 'store'>, records: number, first = 0): Promise<void> {
  let next = 0;
  const appends = Math.ceil(records / EVENTS_PER_APPEND);
  const worker = async (): Promise<void> => {
    for (let index = next++; index < appends; index = next++) {
      const count = Math.min(EVENTS_PER_APPEND, records - index * EVENTS_PER_APPEND);
      await runtime.store.append(
        'main',
        Array.from({ length: count }, (_, offset) => {
          const n = first + index * EVENTS_PER_APPEND + offset;
          return {
            stream: `note-${n}`,
            type: 'note.recorded',
            data: { n, text: randomBytes(96).toString('base64') },
            actor: { id: 'filler', role: 'Service' as const },
          };
        }),
      );
    }
  };
  await Promise.all(Array.from({ length: APPENDS_IN_FLIGHT }, worker));
}

export interface TestBundleOptions {
  records: number;
  /** A checkpoint is made after each of these many records. */
  checkpointEvery: number;
  batchRecords: number;
  archive: string;
  out: string;
}

/** Fills chain main, makes checkpoints, exports to `archive` and writes the bundle of everything into `out`. */
export async function writeTestBundle(runtime: Runtime, options: TestBundleOptions): Promise<BundleReport> {
  const tree = checkpointing(runtime);
  for (let done = 0; done < options.records; done += options.checkpointEvery) {
    const count = Math.min(options.checkpointEvery, options.records - done);
    await appendRecords(runtime, count, done);
    await tree.makeIfDue('main', Date.now());
  }
  const store = new FolderStore(options.archive);
  const exported = await exportTo(runtime, store, { batchRecords: options.batchRecords });
  if (!exported.ok) throw new Error(`the export failed: ${JSON.stringify(exported)}`);
  const checker = inProcessChecker(runtime.registry);
  try {
    return await writeAuditBundle({
      store,
      registry: runtime.registry,
      service: SERVICE,
      chain: 'main',
      fromTs: '2000-01-01T00:00:00.000Z',
      toTs: '2100-01-01T00:00:00.000Z',
      out: bundleFolder(options.out),
      checkScript: auditorCheckScript(),
      compression: zlibCompression,
      proofTexts: [],
      checker,
      version: '0.1.0',
      nowMs: Date.now,
      tree: sqlBundleTree(runtime.db),
      auditorPage: auditorPage().html,
      signer: runtime.signer,
    });
  } finally {
    await checker.close();
  }
}
