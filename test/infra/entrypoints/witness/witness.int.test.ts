/**
 * `chainbook witness` with real logs on both engines (docs/FORMAT.md section
 * 14, "Witnesses and cosignatures"): a log's consistent checkpoints are
 * cosigned and published, with a quorum one that lacks it is not; a log
 * that forks after a common prefix (two databases, one key) is refused and
 * both signed checkpoints are written as evidence; a restarted witness keeps
 * what it cosigned; hostile bodies change nothing.
 */
import { verificationFailuresTotal } from '../../../../infra/adapters/metrics.ts';
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openCheckpoint, parseNote } from '../../../../chain/checkpoint.ts';
import { verifiedCosignatures } from '../../../../chain/cosignature.ts';
import { sha256 } from '../../../../chain/hash.ts';
import type { AppendEventInput } from '../../../../chain/input.ts';
import { proveConsistency, rootAt, signCheckpoint } from '../../../../chain/treeLog.ts';
import { formatAddCheckpoint, type ForkEvidence } from '../../../../chain/witness.ts';
import type { WitnessLogLine } from '../../../../infra/entrypoints/witness/witnessServer.ts';
import { ENGINES } from '../../../helpers/databases.ts';
import { testRuntime, type TestRuntime } from '../../../helpers/runtime.ts';
import {
  copyPrefix,
  logVerifierKey,
  parsedKey,
  startTestWitness,
  verifyRawEd25519,
  witnessedCheckpointing,
  type TestWitness,
} from '../../../helpers/witness.ts';

const buyer = { id: 'buyer-1', role: 'Buyer' };
const ORIGIN = 'chainbook/main';

/** `count` records on `stream`, in appends of at most 100 events (MAX_EVENTS_PER_APPEND). */
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

function cosigners(note: string, witnesses: readonly TestWitness[]): string[] {
  return verifiedCosignatures(
    note,
    witnesses.map((w) => parsedKey(w.vkey)),
    verifyRawEd25519,
  ).map((c) => c.name);
}

async function post(
  witness: TestWitness,
  body: string,
): Promise<{ status: number; type: string | null; text: string }> {
  const response = await fetch(`${witness.url}/add-checkpoint`, { method: 'POST', body });
  return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
}

function logSigned(rt: TestRuntime, note: string): boolean {
  return openCheckpoint(note, parsedKey(logVerifierKey(rt)), sha256, verifyRawEd25519).ok;
}

for (const engine of ENGINES) {
  test(`${engine}: consistent checkpoints are cosigned and published; with a quorum, one that lacks it is not`, async (t) => {
    const rt = await testRuntime(t, engine);
    const witness = await startTestWitness(t, { [ORIGIN]: logVerifierKey(rt) });
    const failures: string[] = [];
    const tree = witnessedCheckpointing(rt, [witness], 1, { onWitnessFailure: (f) => failures.push(f.reason) });
    await appendRecords(rt, 'order-a', 300);
    const now = Date.now();
    const first = await tree.makeIfDue('main', now);
    t.deepEqual(failures, []);
    t.deepEqual(cosigners(first!, [witness]), [witness.name], 'the first checkpoint is cosigned');
    t.true(logSigned(rt, first!), "the log's own signature is still on it");
    t.like(witness.state.held(ORIGIN), { size: 300 });
    t.is((await tree.published('main'))?.note, first);

    await appendRecords(rt, 'order-b', 37);
    const second = await tree.makeIfDue('main', now + rt.config.checkpoints.intervalMs);
    t.deepEqual(cosigners(second!, [witness]), [witness.name], 'cosigned after a consistency proof from 300 to 337');
    t.like(witness.state.held(ORIGIN), { size: 337 });
    t.like(await tree.published('main'), { size: 337, cosigners: 1 });

    // A second witness that does not know this log answers 404: with a quorum of 2 nothing new is published.
    const stranger = await startTestWitness(t, { 'someone/else': logVerifierKey(rt) }, { name: 'witness.test/w2' });
    const strict = witnessedCheckpointing(rt, [witness, stranger], 2, {
      onWitnessFailure: (f) => failures.push(`${f.witness}: ${f.reason}`),
    });
    await appendRecords(rt, 'order-c', 5);
    const third = await strict.makeIfDue('main', now + 2 * rt.config.checkpoints.intervalMs);
    t.deepEqual(cosigners(third!, [witness, stranger]), [witness.name]);
    t.regex(failures.join('\n'), /witness\.test\/w2: answered 404/);
    t.is(await strict.published('main'), undefined, 'no checkpoint has two cosignatures');
    t.like(await tree.published('main'), { size: 342 }, 'with a quorum of 1 the latest is published');
    t.like(await rt.db.query('SELECT cosigners FROM checkpoints WHERE tree_size = 342'), { rows: [{ cosigners: 1 }] });
  });

  test(`${engine}: processes asking the witnesses at once store one line per witness, and count each witness once`, async (t) => {
    const rt = await testRuntime(t, engine);
    const up = await startTestWitness(t, { [ORIGIN]: logVerifierKey(rt) });
    // A witness that does not know this log never cosigns it (404).
    const down = await startTestWitness(t, { 'someone/else': logVerifierKey(rt) }, { name: 'witness.test/w2' });
    await appendRecords(rt, 'order-a', 20);
    // Made while no witness answered: no cosignature yet.
    t.truthy(await witnessedCheckpointing(rt, [], 0).makeIfDue('main', Date.now()));
    const replicas = [0, 1, 2].map(() => witnessedCheckpointing(rt, [up, down], 2));
    await Promise.all(replicas.map((replica) => replica.cosignLatest('main')));
    const latest = (await replicas[0]!.storage.latestCheckpoint('main'))!;
    t.is(latest.note.split('\n').filter((line) => line.startsWith(`\u2014 ${up.name} `)).length, 1, latest.note);
    t.is(latest.cosigners, 1);
    t.is(await replicas[0]!.published('main'), undefined, 'one real witness is not a quorum of 2');

    // The second witness learns the log: asked again at once, each still counts once.
    down.logs.set(ORIGIN, [parsedKey(logVerifierKey(rt))]);
    await Promise.all(replicas.map((replica) => replica.cosignLatest('main')));
    const cosigned = (await replicas[0]!.published('main'))!;
    t.deepEqual(cosigners(cosigned.note, [up, down]).sort(), [up.name, down.name].sort());
    t.is(cosigned.cosigners, 2);
    t.is(cosigned.note.split('\n').filter((line) => line.startsWith('\u2014 witness.test/')).length, 2, cosigned.note);
    t.is(await replicas[1]!.cosignLatest('main'), 0, 'no witness is missing: none is asked');
  });

  test(`${engine}: a log that forks after a common prefix is refused, and both signed checkpoints are evidence`, async (t) => {
    const a = await testRuntime(t, engine);
    // Same data folder: the same signer key and registry, another database.
    const b = await testRuntime(t, engine, { env: { CHAINBOOK_DATA_DIR: a.dataDir } });
    const logged: WitnessLogLine[] = [];
    const witness = await startTestWitness(t, { [ORIGIN]: logVerifierKey(a) }, { log: (line) => logged.push(line) });
    await appendRecords(a, 'order-common', 100);
    await copyPrefix(a, b, 'main', 100);
    await appendRecords(a, 'order-a', 50);
    await appendRecords(b, 'order-b', 60);

    const failures: string[] = [];
    const onWitnessFailure = (f: { reason: string }): void => void failures.push(f.reason);
    const cosignedA = await witnessedCheckpointing(a, [witness], 1, { onWitnessFailure }).makeIfDue('main', Date.now());
    t.deepEqual(cosigners(cosignedA!, [witness]), [witness.name]);
    const forkB = witnessedCheckpointing(b, [witness], 1, { onWitnessFailure });
    const refusedB = await forkB.makeIfDue('main', Date.now());
    t.deepEqual(cosigners(refusedB!, [witness]), [], 'the fork is not cosigned');
    t.regex(failures.join('\n'), /answered 422/);
    t.is(await forkB.published('main'), undefined, 'and the fork publishes nothing with a quorum');
    t.like(witness.state.held(ORIGIN), { size: 150 }, 'the witness still holds the first branch');

    // A proof that does not verify is all anyone could send with the log's genuine checkpoint: no evidence,
    // and the same refusal again is not logged again (one 422 line per reason a minute).
    t.deepEqual(readdirSync(join(witness.stateDir, 'evidence')), []);
    const replay = formatAddCheckpoint({
      oldSize: 150,
      proof: await proveConsistency(forkB.storage, 'main', 150, 160),
      note: refusedB!,
    });
    for (let i = 0; i < 5; i++) t.is((await post(witness, replay)).status, 422);
    t.is(logged.filter((line) => line.status === 422).length, 1, JSON.stringify(logged));
    t.deepEqual(readdirSync(join(witness.stateDir, 'evidence')), []);

    // B's checkpoint of the same size as the one cosigned, another root: 409 with the size held, and evidence.
    const checkpointB150 = { origin: ORIGIN, size: 150, root: await rootAt(forkB.storage, 'main', 150) };
    const noteB150 = await signCheckpoint(b.signer, forkB.key!, checkpointB150);
    const forksBefore = await forksCounted();
    const answer = await post(witness, formatAddCheckpoint({ oldSize: 150, proof: [], note: noteB150 }));
    t.deepEqual(answer, { status: 409, type: 'text/x.tlog.size', text: '150\n' });
    t.is(await forksCounted(), forksBefore + 1, 'counted in audit_verification_failures_total{source="witness"}');
    await post(witness, formatAddCheckpoint({ oldSize: 150, proof: [], note: noteB150 }));
    const files = readdirSync(join(witness.stateDir, 'evidence'));
    t.is(files.length, 1, 'the same fork shown twice is one file');
    const evidence = JSON.parse(readFileSync(join(witness.stateDir, 'evidence', files[0]!), 'utf8')) as ForkEvidence;
    t.is(evidence.origin, ORIGIN);
    t.is(evidence.cosigned.note, cosignedA!);
    t.is(evidence.refused.note, noteB150);
    t.like(evidence, { cosigned: { size: 150 }, refused: { size: 150, oldSize: 150 } });
    t.true(logSigned(a, evidence.cosigned.note) && logSigned(a, evidence.refused.note), 'both signed by the log');
    t.not(evidence.refused.root, evidence.cosigned.root);
    t.like(witness.state.held(ORIGIN), { size: 150, note: cosignedA });
  });

  test(`${engine}: a restarted witness keeps what it cosigned, and hostile bodies change nothing`, async (t) => {
    const rt = await testRuntime(t, engine);
    const logs = { [ORIGIN]: logVerifierKey(rt) };
    const first = await startTestWitness(t, logs);
    await appendRecords(rt, 'order-a', 40);
    const tree = witnessedCheckpointing(rt, [first], 1);
    const note = await tree.makeIfDue('main', Date.now());
    t.deepEqual(cosigners(note!, [first]), [first.name]);
    await first.stop();

    const again = await startTestWitness(t, logs, {
      stateDir: first.stateDir,
      keyFile: join(first.stateDir, 'witness.pem'),
    });
    t.is(again.vkey, first.vkey, 'the same key');
    t.like(again.state.held(ORIGIN), { size: 40 });
    const logNote = parseNote(note!)!;
    const logOnly = `${logNote.body}\n${note!.slice(logNote.body.length + 1).split('\n')[0]}\n`;
    const asked = await post(again, formatAddCheckpoint({ oldSize: 0, proof: [], note: logOnly }));
    t.deepEqual(asked, { status: 409, type: 'text/x.tlog.size', text: '40\n' }, 'it answers with the size it kept');

    const before = readFileSync(join(again.stateDir, 'logs', readdirSync(join(again.stateDir, 'logs'))[0]!), 'utf8');
    const tampered = logOnly.replace(/\n\d+\n/, '\n41\n');
    const bodies: [string, number][] = [
      ['', 400],
      ['old 40\n\nnot a note', 400],
      ['old 040\n\n' + logOnly, 400],
      ['old 41\n\n' + logOnly, 400],
      [formatAddCheckpoint({ oldSize: 40, proof: [], note: tampered }), 403],
      [
        formatAddCheckpoint({ oldSize: 40, proof: [], note: logOnly.replace('chainbook/main', 'chainbook/other') }),
        404,
      ],
      [formatAddCheckpoint({ oldSize: 40, proof: [new Uint8Array(32)], note: logOnly }), 400],
      ['old 0\n' + 'AAAA\n'.repeat(70) + '\n' + logOnly, 400],
      ['x'.repeat(200_000), 413],
    ];
    for (const [body, status] of bodies) t.is((await post(again, body)).status, status, body.slice(0, 40));
    const same = await post(again, formatAddCheckpoint({ oldSize: 40, proof: [], note: logOnly }));
    t.is(same.status, 200, 'the same checkpoint again is cosigned again');
    t.deepEqual(cosigners(`${logOnly}${same.text}`, [again]), [again.name]);
    const after = readFileSync(join(again.stateDir, 'logs', readdirSync(join(again.stateDir, 'logs'))[0]!), 'utf8');
    t.is(JSON.parse(after).size, JSON.parse(before).size, 'still 40 leaves held');
    t.is(readdirSync(join(again.stateDir, 'evidence')).length, 0, 'no evidence from malformed requests');
  });
}

/** audit_verification_failures_total{source="witness",reason="fork"} of this process. */
async function forksCounted(): Promise<number> {
  const { values } = await verificationFailuresTotal.get();
  return values.find(({ labels }) => labels['source'] === 'witness' && labels['reason'] === 'fork')?.value ?? 0;
}
