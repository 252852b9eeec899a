/**
 * docs/FORMAT.md's worked example is a test: its blocks are read out of the
 * document and recomputed, and its OpenSSL script is run.
 */
import test from 'ava';
import canonicalize from 'canonicalize';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { payloadJcs } from '../../chain/canonical.ts';
import { preimageOf, sha256 } from '../../chain/hash.ts';
import * as limits from '../../chain/limits.ts';
import * as archiveLimits from '../../archive/limits.ts';
import { payloadOf, type ChainRecord } from '../../chain/record.ts';
import { parseRegistryText } from '../../chain/registry.ts';
import { verifySignature } from '../../chain/signature.ts';
import { checkLine } from '../../verifier/line.ts';
import type { FindingReason } from '../../verifier/verify.ts';
import { readLinesText } from '../../infra/adapters/files/fileReader.ts';
import { ed25519FromSeed, publicPem } from '../helpers/keys.ts';

const DOC = readFileSync(new URL('../../docs/FORMAT.md', import.meta.url), 'utf8');
const HAPPY = new URL('../vectors/cases/happy/', import.meta.url);

/** The fenced block of docs/FORMAT.md tagged `example=<name>`, without its final line end. */
function block(name: string): string {
  const match = new RegExp(`^\`\`\`\\w+ example=${name}\\n([\\s\\S]*?)\\n\`\`\`$`, 'm').exec(DOC);
  if (!match) throw new Error(`docs/FORMAT.md has no block example=${name}`);
  return match[1]!;
}

function hashBlock(): Record<string, string> {
  return Object.fromEntries(
    block('hash')
      .split('\n')
      .map((line) => line.split(/:\s+/) as [string, string]),
  );
}

const recordText = block('record');
const record = JSON.parse(recordText) as ChainRecord;

test('the example record is record 2 of main in the happy golden vector, and passes every per-record check', (t) => {
  const happy = readLinesText(readFileSync(new URL('records.jsonl', HAPPY), 'utf8'));
  t.true(happy.includes(recordText));
  t.like(record, { chain: 'main', seq: 2 });
  const registry = parseRegistryText(readFileSync(new URL('signers.json', HAPPY), 'utf8'));
  t.like(checkLine(recordText, registry), { ok: true, hashOk: true, signature: { ok: true } });
});

test('the example payload is the JCS of the record without hash, prevHash and sig', (t) => {
  t.is(canonicalize(payloadOf(record)), block('payload'));
  t.is(block('payload'), payloadJcs(payloadOf(record)));
});

test('the example preimage sizes and hash recompute', (t) => {
  const preimage = preimageOf(block('payload'), record.prevHash);
  const stated = hashBlock();
  t.is(Number(stated['payload bytes']), Buffer.byteLength(block('payload'), 'utf8'));
  t.is(Number(stated['prevHash bytes']), 32);
  t.is(Number(stated['preimage bytes']), preimage.length);
  t.is(stated['sha256'], sha256(preimage).toString('hex'));
  t.is(stated['sha256'], record.hash);
});

test('the example public key is the fixed test key and the signature verifies under it', (t) => {
  const { publicKey } = ed25519FromSeed('vectors-ed25519-v1');
  t.is(`${block('public-key')}\n`, publicPem(publicKey));
  const preimage = preimageOf(block('payload'), record.prevHash);
  t.true(verifySignature('ed25519', publicKey, sha256(preimage), preimage, Buffer.from(record.sig.value, 'base64')));
});

function runOpensslScript(recordLine: string): { status: number | null; stdout: string; stderr: string } {
  const directory = mkdtempSync(join(tmpdir(), 'chainbook-format-'));
  try {
    writeFileSync(join(directory, 'record.json'), `${recordLine}\n`);
    writeFileSync(join(directory, 'pub.pem'), `${block('public-key')}\n`);
    const result = spawnSync('bash', ['-euo', 'pipefail', '-c', block('openssl')], {
      cwd: directory,
      encoding: 'utf8',
    });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

test('the example OpenSSL script verifies the record, and fails on a record changed by one byte', (t) => {
  const good = runOpensslScript(recordText);
  t.is(good.status, 0, good.stderr);
  t.is(good.stdout, 'hash OK\nSignature Verified Successfully\n');
  const bad = runOpensslScript(recordText.replace('"priceMinor":1999', '"priceMinor":1998'));
  t.not(bad.status, 0);
  t.notRegex(bad.stdout, /Verified Successfully/);
});

test('the bounds tables list every constant of chain/limits.ts and archive/limits.ts with its value', (t) => {
  for (const [name, value] of [...Object.entries(limits), ...Object.entries(archiveLimits)]) {
    t.true(DOC.includes(`| \`${name}\` | ${value} |`), `${name} = ${value}`);
  }
});

/** Every reason, by the type: adding one to FindingReason without listing it here does not compile. */
const REASONS = {
  'malformed-record': true,
  'wrong-chain': true,
  'seq-gap': true,
  'prev-hash-mismatch': true,
  'hash-mismatch': true,
  'unknown-signer': true,
  'algorithm-mismatch': true,
  'outside-validity-window': true,
  'bad-signature': true,
  'stream-version-gap': true,
  'duplicate-id': true,
  'missing-predecessor': true,
  'no-records': true,
  'head-mismatch': true,
  'invalid-delegation': true,
  'embedded-signature-invalid': true,
  'manifest-invalid': true,
  'manifest-signature-invalid': true,
  'batch-missing': true,
  'batch-link-mismatch': true,
  'batch-hash-mismatch': true,
  'batch-content-mismatch': true,
  'batch-tree-mismatch': true,
  'database-behind-archive': true,
  'database-mismatch': true,
} satisfies Record<FindingReason, true>;

test('every finding reason is documented', (t) => {
  for (const reason of Object.keys(REASONS)) t.true(DOC.includes(`\`${reason}\``), reason);
});
