/**
 * `chainbook witness` and the log's side through the real CLI, as operators
 * run them (docs/FORMAT.md section 14, "Witnesses and cosignatures"): the
 * log prints its `<origin>=<vkey>` for WITNESS_LOGS, the witness prints its
 * vkey for CHECKPOINT_WITNESSES and serves; `chainbook checkpoint` with a
 * quorum of 1 prints a cosigned checkpoint, which `audit-verify --checkpoint
 * --witness` holds the database to; SIGTERM stops the witness with exit 0;
 * a witness without a name or logs could not run (exit 2).
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, runCli } from '../../../helpers/cli.ts';
import { openTestDatabase } from '../../../helpers/databases.ts';
import { tempDir } from '../../../helpers/runtime.ts';

function eventLine(stream: string): string {
  return JSON.stringify({ stream, type: 'quote.recorded', data: { n: 1 }, actor: { id: 'buyer-1', role: 'Buyer' } });
}

/** Starts `chainbook witness --port 0` and resolves with its URL once it listens. */
function startWitness(env: Record<string, string>): Promise<{ url: string; stop: () => Promise<number | null> }> {
  const { DATABASE_URL: _inherited, ...inherited } = process.env;
  const child = spawn(process.execPath, [...CLI, 'witness', '--port', '0'], {
    env: { ...inherited, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  return new Promise((resolve, reject) => {
    let stderr = '';
    const timer = setTimeout(() => reject(new Error(`the witness did not start: ${stderr}`)), 30_000);
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
      const url = /listening on (http:\/\/\S+)/.exec(stderr)?.[1];
      if (!url) return;
      clearTimeout(timer);
      resolve({
        url,
        stop: () => {
          child.kill('SIGTERM');
          return exited;
        },
      });
    });
    void exited.then((code) => reject(new Error(`the witness exited ${code}: ${stderr}`)));
  });
}

test('a witness started from the CLI cosigns the checkpoint the CLI makes, and the auditor holds the database to it', async (t) => {
  const database = await openTestDatabase('postgres');
  const logDir = tempDir('witness-log');
  const witnessDir = tempDir('witness-cli');
  t.teardown(async () => {
    await database.drop();
    rmSync(logDir, { recursive: true, force: true });
    rmSync(witnessDir, { recursive: true, force: true });
  });
  const logEnv = { DATABASE_URL: database.location, CHAINBOOK_DATA_DIR: logDir };
  const input = Array.from({ length: 12 }, (_, i) => `${eventLine(`quote-${i}`)}\n`).join('');
  t.is((await runCli(['append'], { env: logEnv, input })).code, 0);
  const logKey = await runCli(['checkpoint', '--vkey'], { env: logEnv });
  t.is(logKey.code, 0, logKey.stderr);
  t.regex(logKey.stdout, /^chainbook\/main=local-ed25519-[0-9a-f]{12}\+[0-9a-f]{8}\+[A-Za-z0-9+/]+=*\n$/);

  const witnessEnv = {
    CHAINBOOK_DATA_DIR: witnessDir,
    WITNESS_NAME: 'witness.test/cli',
    WITNESS_LOGS: logKey.stdout.trim(),
  };
  t.is((await runCli(['witness'], { env: { CHAINBOOK_DATA_DIR: witnessDir } })).code, 2, 'no WITNESS_NAME');
  t.is((await runCli(['witness'], { env: { ...witnessEnv, WITNESS_LOGS: '' } })).code, 2, 'no WITNESS_LOGS');
  const vkey = await runCli(['witness', '--vkey'], { env: witnessEnv });
  t.is(vkey.code, 0, vkey.stderr);
  t.regex(vkey.stdout, /^witness\.test\/cli\+[0-9a-f]{8}\+[A-Za-z0-9+/]+=*\n$/);
  const witness = await startWitness(witnessEnv);

  const cosigned = await runCli(['checkpoint'], {
    env: { ...logEnv, CHECKPOINT_WITNESSES: `${witness.url} ${vkey.stdout.trim()}`, CHECKPOINT_WITNESS_QUORUM: '1' },
  });
  t.is(cosigned.code, 0, cosigned.stderr);
  t.regex(
    cosigned.stdout,
    /^chainbook\/main\n12\n.*\n\n\u2014 local-ed25519-\S+ \S+\n\u2014 witness\.test\/cli \S+\n$/,
  );
  t.is(await witness.stop(), 0, 'SIGTERM stops it cleanly');

  // The inclusion proof of a record against that checkpoint, checked offline with its cosignature.
  const proofFile = join(logDir, 'seq5.tlog-proof');
  const quorumEnv = {
    ...logEnv,
    CHECKPOINT_WITNESS_QUORUM: '1',
    CHECKPOINT_WITNESSES: `${witness.url} ${vkey.stdout.trim()}`,
  };
  const proved = await runCli(['prove', '--seq', '5', '--out', proofFile], { env: quorumEnv });
  t.is(proved.code, 0, proved.stderr);
  const signers = JSON.parse(readFileSync(join(logDir, 'signers.json'), 'utf8')) as {
    signers: { signer_kid: string; public_key_pem: string }[];
  };
  const pem = join(logDir, 'pub.pem');
  writeFileSync(pem, signers.signers[0]!.public_key_pem);
  const key = ['--public-key', pem, '--kid', signers.signers[0]!.signer_kid];
  const included = await runCli(['verify-inclusion', proofFile, ...key, '--witness', vkey.stdout.trim()]);
  t.is(included.code, 0, included.stdout + included.stderr);
  t.regex(included.stdout, /^OK: record 5 of main .* cosigned by witness\.test\/cli\n$/);
  const logVkey = logKey.stdout.trim().replace(/^chainbook\/main=/, '');
  t.is((await runCli(['verify-inclusion', proofFile, ...key, '--witness', logVkey])).code, 2, 'not a witness key');

  const file = join(logDir, 'checkpoint.txt');
  writeFileSync(file, cosigned.stdout);
  const audited = await runCli(
    ['audit-verify', '--no-progress', '--threads', '0', '--checkpoint', file, '--witness', vkey.stdout.trim()],
    { env: logEnv },
  );
  t.is(audited.code, 0, audited.stdout + audited.stderr);
  t.regex(audited.stdout, /checkpoint: OK: main holds the 12 records .* cosigned by witness\.test\/cli/);
});
