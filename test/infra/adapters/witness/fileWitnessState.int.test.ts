/**
 * The witness's state folder on the real file system: the lock file keeps a
 * second witness off the folder (also one that has just created the lock),
 * is never taken over unless its pid is gone, and evidence files are written
 * once each, never over one another, and at most MAX_EVIDENCE_FILES.
 */
import test from 'ava';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ForkEvidence } from '../../../../chain/witness.ts';
import { fileWitnessState, MAX_EVIDENCE_FILES } from '../../../../infra/adapters/witness/fileWitnessState.ts';

function folder(t: { teardown(f: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'chainbook-witness-state-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function evidence(root: string): ForkEvidence {
  return {
    origin: 'chainbook/main',
    reason: 'another root',
    cosigned: { size: 7, root: Buffer.alloc(32, 1).toString('base64'), note: 'cosigned note' },
    refused: { size: 7, root, note: 'refused note', oldSize: 7, proof: [] },
  };
}

test('a lock file that is not a live pid of another process is refused, not taken over', (t) => {
  const dir = folder(t);
  const lockPath = join(dir, 'witness.lock');
  for (const content of ['', 'garbage\n', `${process.ppid}\n`]) {
    // '' is the lock of a process that has just created it and not yet written its pid.
    writeFileSync(lockPath, content);
    t.throws(() => fileWitnessState(dir), undefined, JSON.stringify(content));
    t.is(readFileSync(lockPath, 'utf8'), content, 'left as it was');
  }
  rmSync(lockPath);
  const state = fileWitnessState(dir);
  t.is(readFileSync(lockPath, 'utf8'), `${process.pid}\n`);
  t.throws(() => fileWitnessState(dir), { message: /in use by process/ }, 'a second state in this process too');
  state.close();
  t.deepEqual(readdirSync(dir).sort(), ['evidence', 'logs'], 'released, no temporary file left');

  // A pid above any pid_max: its process is gone, the lock is taken over.
  writeFileSync(lockPath, '999999999\n');
  const again = fileWitnessState(dir);
  t.is(readFileSync(lockPath, 'utf8'), `${process.pid}\n`);
  again.close();
});

test('evidence files are written once each, never over one another, and at most MAX_EVIDENCE_FILES', async (t) => {
  const dir = folder(t);
  const state = fileWitnessState(dir);
  t.teardown(() => state.close());
  const rootA = Buffer.alloc(32, 2).toString('base64');
  const rootB = Buffer.alloc(32, 3).toString('base64');
  // Same origin, same size, same millisecond: two roots are two files.
  await Promise.all([state.saveEvidence(evidence(rootA)), state.saveEvidence(evidence(rootB))]);
  await state.saveEvidence(evidence(rootA));
  const files = readdirSync(join(dir, 'evidence')).sort();
  t.is(files.length, 2);
  t.true(files.some((name) => name.includes(Buffer.from(rootA, 'base64').toString('hex'))));
  const kept = JSON.parse(readFileSync(join(dir, 'evidence', files[0]!), 'utf8')) as ForkEvidence;
  t.is(kept.cosigned.note, 'cosigned note');

  for (let i = files.length; i < MAX_EVIDENCE_FILES; i++)
    writeFileSync(join(dir, 'evidence', `filler-${i}.json`), '{}');
  await state.saveEvidence(evidence(Buffer.alloc(32, 4).toString('base64')));
  t.is(readdirSync(join(dir, 'evidence')).length, MAX_EVIDENCE_FILES);
});
