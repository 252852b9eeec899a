/**
 * Proof sizes and proof generation time (docs/FORMAT.md section 14) at
 * 1,000, 100,000 and 1,000,000 records.
 *
 * - 1,000 and 100,000: a real chain on PostgreSQL (appends of 100 events, 8
 *   in flight), a checkpoint, then inclusion proof files of records spread
 *   over the chain read from the stored tiles (`inclusionProofFile`, what
 *   GET /proof/inclusion answers), their offline verification
 *   (`verifyInclusionFile`), and the consistency proof from half the tree.
 * - 1,000,000: in memory only, with chain/merkle.ts over the levels of a tree
 *   of random leaves: appending a million signed records takes minutes on
 *   this machine. The same in-memory figures are given at the two smaller
 *   sizes, so the database's cost over the math is seen in the same run.
 *
 * The peer: what a hash chain alone needs to show a record is in the log,
 * every record after it (half the chain on average, at the chain's mean
 * record size).
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import type { AppendEventInput } from '../chain/input.ts';
import { consistencyProof, inclusionProof, type SubtreeReader } from '../chain/merkle.ts';
import { treeHasher } from '../chain/treeCommit.ts';
import { proveConsistency } from '../chain/treeLog.ts';
import { migrate } from '../infra/adapters/sql/migrate.ts';
import { openPostgres } from '../infra/adapters/sql/postgres.ts';
import { inclusionProofFile, sqlTreeLog } from '../infra/adapters/sql/treeLog.ts';
import { checkpointing } from '../infra/wiring/checkpoints.ts';
import { loadConfig } from '../infra/wiring/config.ts';
import { openRuntime } from '../infra/wiring/runtime.ts';
import { verifyInclusionFile } from '../verifier/verifyInclusion.ts';
import { benchDatabase, benchDir, format, inFlight } from './lib.ts';

/** Proofs timed at each size (docs/STYLE.md rule 7: every loop bounded). */
const PROOFS_TIMED = 200;
const EVENTS_PER_APPEND = 100;
const APPENDS_IN_FLIGHT = 8;

export interface ProofFigures {
  size: number;
  source: 'postgres' | 'memory';
  inclusionHashes: number;
  /** Mean bytes of an inclusion proof file (record and checkpoint included); 32 × hashes in memory. */
  inclusionBytes: number;
  inclusionMs: number;
  verifyMs: number | undefined;
  consistencyHashes: number;
  consistencyMs: number;
  /** What a hash chain alone sends for a record in the middle: the records after it. */
  hashChainBytes: number | undefined;
}

/** Seqs spread evenly over 1..size. */
function spread(size: number, count: number): number[] {
  return Array.from({ length: Math.min(count, size) }, (_, i) => 1 + Math.floor((i * size) / Math.min(count, size)));
}

/** A SubtreeReader over every level of a tree of random leaves, held in memory. */
function memoryTree(size: number): SubtreeReader {
  const levels: Uint8Array[][] = [Array.from({ length: size }, () => treeHasher.leaf(randomBytes(32)))];
  while (levels.at(-1)!.length > 1) {
    const below = levels.at(-1)!;
    const level: Uint8Array[] = [];
    for (let i = 0; i + 1 < below.length; i += 2) level.push(treeHasher.node(below[i]!, below[i + 1]!));
    levels.push(level);
  }
  return (height, index) => {
    const hash = levels[height]?.[index];
    if (!hash) throw new RangeError(`no complete subtree ${height}/${index} in a tree of ${size}`);
    return Promise.resolve(hash);
  };
}

async function inMemory(size: number): Promise<ProofFigures> {
  const read = memoryTree(size);
  const seqs = spread(size, PROOFS_TIMED);
  let hashes = 0;
  const started = performance.now();
  for (const seq of seqs) hashes += (await inclusionProof(treeHasher, read, seq - 1, size)).length;
  const inclusionMs = (performance.now() - started) / seqs.length;
  const consistencyStarted = performance.now();
  const consistency = await consistencyProof(treeHasher, read, Math.floor(size / 2), size);
  return {
    size,
    source: 'memory',
    inclusionHashes: hashes / seqs.length,
    inclusionBytes: (32 * hashes) / seqs.length,
    inclusionMs,
    verifyMs: undefined,
    consistencyHashes: consistency.length,
    consistencyMs: performance.now() - consistencyStarted,
    hashChainBytes: undefined,
  };
}

function events(from: number): AppendEventInput[] {
  return Array.from({ length: EVENTS_PER_APPEND }, (_, i) => ({
    stream: `order-${from + i}`,
    type: 'order.created',
    data: { listing: `listing-${(from + i) % 97}`, priceMinor: 1999, currency: 'EUR' },
    actor: { id: 'buyer', role: 'Buyer' },
  }));
}

async function onPostgres(size: number): Promise<ProofFigures> {
  const database = await benchDatabase('proofs');
  const db = openPostgres(database.url, { poolSize: 4 });
  const dataDir = benchDir('proofs');
  try {
    await migrate(db);
    const runtime = await openRuntime(loadConfig({ CHAINBOOK_DATA_DIR: dataDir }), { db, projections: false });
    try {
      await inFlight(size / EVENTS_PER_APPEND, APPENDS_IN_FLIGHT, (i) =>
        runtime.store.append('main', events(i * EVENTS_PER_APPEND)),
      );
      const tree = checkpointing(runtime);
      await tree.makeIfDue('main', Date.now());
      const key = { name: runtime.signer.kid, publicKey: runtime.registry.signers.get(runtime.signer.kid)!.publicKey };
      const seqs = spread(size, PROOFS_TIMED);
      const files: string[] = [];
      const started = performance.now();
      for (const seq of seqs) files.push((await inclusionProofFile(db, 'main', seq, 0))!);
      const inclusionMs = (performance.now() - started) / seqs.length;
      const verifyStarted = performance.now();
      for (const file of files) if (!verifyInclusionFile(file, key).ok) throw new Error('a proof did not verify');
      const verifyMs = (performance.now() - verifyStarted) / files.length;
      const consistencyStarted = performance.now();
      const consistency = await proveConsistency(sqlTreeLog(db), 'main', size / 2, size);
      const consistencyMs = performance.now() - consistencyStarted;
      const { rows } = await db.query<{ bytes: number }>(
        'SELECT sum(octet_length(record))::int8 AS bytes FROM events WHERE seq > $1',
        [size / 2],
      );
      const hashLines = files.map((file) => file.split('\n\n')[0]!.split('\n').length - 3);
      return {
        size,
        source: 'postgres',
        inclusionHashes: hashLines.reduce((a, b) => a + b, 0) / files.length,
        inclusionBytes: files.reduce((sum, file) => sum + Buffer.byteLength(file), 0) / files.length,
        inclusionMs,
        verifyMs,
        consistencyHashes: consistency.length,
        consistencyMs,
        hashChainBytes: Number(rows[0]!.bytes),
      };
    } finally {
      await runtime.close();
    }
  } finally {
    await db.close();
    await database.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function describe(f: ProofFigures): string {
  const verified = f.verifyMs === undefined ? '' : `, verified offline in ${format(f.verifyMs)} ms`;
  const peer =
    f.hashChainBytes === undefined
      ? ''
      : `; a hash chain alone sends ${format(f.hashChainBytes / 1024)} KiB for a record in the middle (${format(f.hashChainBytes / f.inclusionBytes)}x)`;
  return `${format(f.size)} records (${f.source}): inclusion proof ${format(f.inclusionHashes)} hashes, ${format(f.inclusionBytes)} bytes, made in ${format(f.inclusionMs)} ms${verified}; consistency proof from ${format(f.size / 2)} ${f.consistencyHashes} hashes in ${format(f.consistencyMs)} ms${peer}`;
}

export async function proofBenchmark(log: (line: string) => void): Promise<ProofFigures[]> {
  const figures: ProofFigures[] = [];
  for (const size of [1000, 100_000]) {
    const stored = await onPostgres(size);
    log(describe(stored));
    const memory = await inMemory(size);
    log(describe(memory));
    log(`  from the database: ${format(stored.inclusionMs / memory.inclusionMs)}x the time of the math alone`);
    figures.push(stored, memory);
  }
  const million = await inMemory(1_000_000);
  log(describe(million));
  figures.push(million);
  return figures;
}
