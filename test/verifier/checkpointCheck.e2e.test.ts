/**
 * `chainbook audit-verify --checkpoint FILE` (verifier/checkpointCheck.ts)
 * with nothing but a cosigned checkpoint: a database cut at its tail and one
 * restored to an earlier state and appended to since both pass the record
 * checks and both fail against the checkpoint, exit 1 with the reason; the
 * database the checkpoint came from passes as it grows; a checkpoint
 * without the witnesses' cosignatures, or changed, is refused.
 */
import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseNote } from '../../chain/checkpoint.ts';
import type { AppendEventInput } from '../../chain/input.ts';
import type { SignerRegistry } from '../../chain/registry.ts';
import { databaseReader } from '../../infra/adapters/sql/databaseReader.ts';
import { checkAgainstCheckpoint, type CheckpointReport } from '../../verifier/checkpointCheck.ts';
import { writeDump, writeSigners } from '../helpers/deliveryProofs.ts';
import { testRuntime, tempDir, type TestRuntime } from '../helpers/runtime.ts';
import { auditVerifyCli } from '../helpers/signing.ts';
import { copyPrefix, logVerifierKey, startTestWitness, witnessedCheckpointing } from '../helpers/witness.ts';

const buyer = { id: 'buyer-1', role: 'Buyer' };

async function appendRecords(rt: TestRuntime, stream: string, count: number): Promise<void> {
  for (let done = 0; done < count; done += 100) {
    const events: AppendEventInput[] = Array.from({ length: Math.min(100, count - done) }, (_, i) => ({
      stream,
      type: 'order.noted',
      data: { n: done + i },
      actor: buyer,
    }));
    await rt.store.append('main', events);
  }
}

test('a cut tail and a rollback are found with only a cosigned checkpoint; the log it came from passes', async (t) => {
  const live = await testRuntime(t, 'postgres');
  const witness = await startTestWitness(t, { 'chainbook/main': logVerifierKey(live) });
  const other = await startTestWitness(t, { 'chainbook/main': logVerifierKey(live) }, { name: 'witness.test/w2' });
  await appendRecords(live, 'order-a', 150);
  const note = await witnessedCheckpointing(live, [witness], 1).makeIfDue('main', Date.now());
  const folder = tempDir('checkpoint');
  const file = join(folder, 'checkpoint.txt');
  writeFileSync(file, note!);
  const signers = live.config.signersPath;
  const verify = (db: TestRuntime, ...args: string[]): ReturnType<typeof auditVerifyCli> =>
    auditVerifyCli(['-d', db.test.location, '-s', signers, '--threads', '0', ...args]);
  const withCheckpoint = ['--checkpoint', file, '--witness', witness.vkey];

  await appendRecords(live, 'order-b', 20);
  const good = verify(live, ...withCheckpoint);
  t.is(good.status, 0, good.stdout + good.stderr);
  t.regex(
    good.stdout,
    /checkpoint: OK: main holds the 150 records .* cosigned by witness\.test\/w1 \(and 20 after them\)/,
  );

  // Cut at its tail: 120 of the 150 records.
  const cut = await testRuntime(t, 'postgres', { env: { CHAINBOOK_DATA_DIR: live.dataDir } });
  await copyPrefix(live, cut, 'main', 120);
  t.is(verify(cut).status, 0, 'every record it holds checks');
  const cutReport = verify(cut, ...withCheckpoint);
  t.is(cutReport.status, 1, cutReport.stdout + cutReport.stderr);
  t.regex(
    cutReport.stdout,
    /checkpoint: FAILED at chain main seq 121: behind-checkpoint: the chain main has 120 records/,
  );

  // Restored to seq 100, then appended to: more records than the checkpoint, other ones after 100.
  const rolledBack = await testRuntime(t, 'postgres', { env: { CHAINBOOK_DATA_DIR: live.dataDir } });
  await copyPrefix(live, rolledBack, 'main', 100);
  await appendRecords(rolledBack, 'order-c', 80);
  t.is(verify(rolledBack).status, 0, 'every record it holds checks, links and signatures included');
  const rollbackReport = verify(rolledBack, ...withCheckpoint);
  t.is(rollbackReport.status, 1, rollbackReport.stdout + rollbackReport.stderr);
  t.regex(rollbackReport.stdout, /checkpoint: FAILED at chain main seq 150: checkpoint-root-mismatch/);
  const json = JSON.parse(verify(rolledBack, ...withCheckpoint, '--json').stdout) as { checkpoint: object };
  t.like(json.checkpoint, { ok: false, reason: 'checkpoint-root-mismatch', chain: 'main', seq: 150 });

  // Cosignatures: by another witness, or none at all, are not the ones required.
  const otherReport = verify(live, '--checkpoint', file, '--witness', other.vkey);
  t.is(otherReport.status, 1);
  t.regex(otherReport.stdout, /checkpoint-cosignatures-missing: 0 of the 1/);
  const logOnly = join(folder, 'log-only.txt');
  const parsed = parseNote(note!)!;
  writeFileSync(logOnly, `${parsed.body}\n${note!.slice(parsed.body.length + 1).split('\n')[0]}\n`);
  t.is(verify(live, '--checkpoint', logOnly, '--witness', witness.vkey).status, 1, 'without its cosignature');
  t.is(verify(live, '--checkpoint', logOnly).status, 0, 'no witness asked: the log signature suffices');
  const either = verify(live, '--checkpoint', file, '--witness', witness.vkey, other.vkey, '--witness-quorum', '1');
  t.is(either.status, 0, either.stdout);

  const changed = join(folder, 'changed.txt');
  writeFileSync(changed, note!.replace('\n150\n', '\n151\n'));
  const changedReport = verify(live, '--checkpoint', changed);
  t.is(changedReport.status, 1);
  t.regex(
    changedReport.stdout,
    /checkpoint-invalid: no signature by an Ed25519 or ECDSA signer of the registry verifies/,
  );
  t.is(verify(live, '--checkpoint', join(folder, 'absent.txt')).status, 2, 'an unreadable file: could not run');
  t.is(verify(live, ...withCheckpoint, '--witness-quorum', '2').status, 2, 'a quorum above the witnesses given');
});

test('a file without the chain, or with a line that is not a record, fails the checkpoint (exit 1), never crashes', async (t) => {
  const live = await testRuntime(t, 'pglite');
  await appendRecords(live, 'order-a', 5);
  const note = await witnessedCheckpointing(live, [], 0).makeIfDue('main', Date.now());
  const folder = tempDir('checkpoint-files');
  const file = (name: string): string => join(folder, name);
  writeFileSync(file('checkpoint.txt'), note!);
  writeSigners(live.registry, file('signers.json'));
  await writeDump(databaseReader(live.db), file('chain.jsonl'));
  const lines = readFileSync(file('chain.jsonl'), 'utf8').split('\n').filter(Boolean);
  const verify = (dump: string): ReturnType<typeof auditVerifyCli> =>
    auditVerifyCli(['-i', dump, '-s', file('signers.json'), '--threads', '0', '--checkpoint', file('checkpoint.txt')]);
  t.is(verify(file('chain.jsonl')).status, 0, 'the dump itself holds the checkpoint');

  writeFileSync(file('empty.jsonl'), '');
  writeFileSync(
    file('renamed.jsonl'),
    lines.map((line) => `${line.replace('"chain":"main"', '"chain":"other"')}\n`).join(''),
  );
  for (const name of ['empty.jsonl', 'renamed.jsonl']) {
    const report = verify(file(name));
    t.is(report.status, 1, `${name}: ${report.stdout}${report.stderr}`);
    t.regex(report.stdout, /checkpoint: FAILED at chain main seq 1: behind-checkpoint: the chain main has 0 records/);
  }

  const corrupt = [...lines.slice(0, 2), '{"chain":"main","seq":3,"hash":"zz"}', ...lines.slice(3)];
  writeFileSync(file('corrupt.jsonl'), corrupt.map((line) => `${line}\n`).join(''));
  const report = verify(file('corrupt.jsonl'));
  t.is(report.status, 1, report.stdout + report.stderr);
  t.regex(report.stdout, /checkpoint: FAILED at chain main seq 3: checkpoint-record-malformed/);
});

test("a checkpoint by a signer retired before its last record was written is outside the signer's window", async (t) => {
  const live = await testRuntime(t, 'pglite');
  await appendRecords(live, 'order-a', 5);
  const note = (await witnessedCheckpointing(live, [], 0).makeIfDue('main', Date.now()))!;
  const reader = databaseReader(live.db);
  const check = (registry: SignerRegistry): Promise<CheckpointReport> =>
    checkAgainstCheckpoint(reader, note, { registry, witnesses: [] });
  t.like(await check(live.registry), { ok: true, size: 5 });
  const [last] = await live.store.readChain('main', { fromSeq: 5, toSeq: 5, limit: 1 });
  const lastTs = Date.parse(last!.record.ts);
  t.true(Number.isFinite(lastTs));
  const retiredAt = (ms: number): SignerRegistry => {
    const signers = new Map(live.registry.signers);
    const entry = signers.get(live.signer.kid)!;
    signers.set(live.signer.kid, { ...entry, retiredAt: new Date(ms).toISOString(), retiredAtMs: ms });
    return { signers };
  };
  t.like(await check(retiredAt(lastTs + 1)), { ok: true }, 'retired after its last record: it may have signed it');
  const report = await check(retiredAt(lastTs));
  t.like(report, { ok: false, reason: 'checkpoint-invalid', chain: 'main', seq: 5 });
  t.regex((report as { message: string }).message, /outside the signer's validity window/);
});
