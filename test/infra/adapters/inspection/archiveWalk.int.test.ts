/**
 * Secrets inside compressed archives (docs/DOMAIN.md, "Content inspection", "Archives"): the inspector as
 * the configuration makes it (infra/wiring/content.ts), with the real secrets and YARA plugins, over real
 * archives made here (zip by Info-ZIP's `zip`, tar and .tar.gz by the `tar` package, gzip by node:zlib).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import type { InspectionResult } from '../../../../commands/content/inspector.ts';
import { archiveUnpacker } from '../../../../infra/adapters/inspection/archiveWalk.ts';
import type { SqlDatabase } from '../../../../infra/adapters/sql/sql.ts';
import { loadConfig } from '../../../../infra/wiring/config.ts';
import { openContent } from '../../../../infra/wiring/content.ts';
import {
  compressedBy,
  gzipOf,
  storedInCentralDirectory,
  tarOf,
  withEntriesAfterDeflateStream,
  withFirstTarHeader,
  withUnlistedLocalEntries,
  zipOf,
  zipOfFolders,
  zipOfZeros,
  type ArchiveFile,
} from '../../../helpers/archives.ts';
import { eicar, pemPrivateKey, pngBytes } from '../../../helpers/hostileContent.ts';

const actor = { id: 'pub-1', role: 'Publisher' };
/** A member name that must never reach the decision: names are the publisher's text. */
const SECRET_NAME = 'name-with-a-customer-secret-in-it.pem';

function inspectorWith(env: Record<string, string> = {}) {
  const config = loadConfig({ CHAINBOOK_DATA_DIR: mkdtempSync(join(tmpdir(), 'chainbook-archive-test-')), ...env });
  // Quarantine is off: the database is never used.
  return openContent(config, undefined as unknown as SqlDatabase).deps.inspector;
}

async function inspect(bytes: Buffer, env: Record<string, string> = {}, contentType = 'application/octet-stream') {
  return inspectorWith(env).inspect({ bytes, contentType, actor, subject: 'artifact' });
}

/** An AWS secret access key as a config file writes it (not a real key). */
function awsSecretLine(): string {
  return `aws_secret_access_key = ${randomBytes(30)
    .toString('base64')
    .replace(/[^A-Za-z0-9]/g, 'A')
    .slice(0, 40)}\n`;
}

function filler(count: number, sizeBytes: number): ArchiveFile[] {
  return Array.from({ length: count }, (_, index) => ({
    name: `assets/part-${String(index).padStart(4, '0')}.bin`,
    content: randomBytes(sizeBytes),
  }));
}

function resultOf(result: InspectionResult, plugin: string) {
  return result.pluginResults.find((pluginResult) => pluginResult.plugin === plugin);
}

function assertNoContent(t: ExecutionContext, result: InspectionResult, ...secrets: string[]) {
  const recorded = JSON.stringify(result);
  for (const secret of [SECRET_NAME, 'PRIVATE KEY', ...secrets])
    t.false(recorded.includes(secret), `the result does not carry ${secret.slice(0, 20)}`);
}

test('a PEM private key in a deflated zip member is found by the secrets plugin and YARA, the member named by position', async (t) => {
  const key = pemPrivateKey();
  const zip = zipOf([
    { name: 'readme.txt', content: 'hello\n'.repeat(100) },
    { name: SECRET_NAME, content: key },
  ]);
  t.false(zip.includes('PRIVATE KEY'), 'the member is deflated: its text is not in the archive bytes');
  const result = await inspect(zip, {}, 'application/zip');
  t.is(result.tier, 'BLOCK');
  t.true(result.labels.includes('secret.pem-private-key'));
  t.true(result.labels.includes('yara.pem_private_key'));
  t.true(result.labels.includes('archive.zip'));
  t.regex(resultOf(result, 'secrets')!.reason!, /a PEM private key in member 2 at offset 0/);
  t.regex(resultOf(result, 'yara')!.reason!, /in member 2$/);
  t.like(resultOf(result, 'archive'), { outcome: 'ok', tier: 'CLEAR' });
  assertNoContent(t, result, key.split('\n')[1]!);
});

test('secrets in a .gz, a .tar.gz and a zip nested in a .tar.gz are found', async (t) => {
  const key = pemPrivateKey();
  const gz = await inspect(gzipOf(`config\n${key}`));
  t.is(gz.tier, 'BLOCK');
  t.regex(resultOf(gz, 'secrets')!.reason!, /in member 1 at offset 7/);

  const tarGz = tarOf(
    [
      { name: 'docs/a.txt', content: 'nothing\n' },
      { name: SECRET_NAME, content: key },
    ],
    {
      gzip: true,
    },
  );
  const inTarGz = await inspect(tarGz, {}, 'application/gzip');
  t.is(inTarGz.tier, 'BLOCK');
  t.true(inTarGz.labels.includes('archive.gzip') && inTarGz.labels.includes('archive.tar'));
  t.regex(resultOf(inTarGz, 'secrets')!.reason!, /in member 1\/2 at offset 0/);

  const aws = awsSecretLine();
  const inner = zipOf([{ name: 'credentials', content: `[default]\n${aws}` }]);
  const nested = tarOf(
    [
      { name: 'a.txt', content: 'a\n' },
      { name: 'inner.zip', content: inner },
    ],
    { gzip: true },
  );
  const inNested = await inspect(nested, {}, 'application/gzip');
  t.is(inNested.tier, 'BLOCK');
  t.true(inNested.labels.includes('secret.aws-secret-access-key'));
  t.regex(resultOf(inNested, 'secrets')!.reason!, /an AWS secret access key in member 1\/2\/1/);
  assertNoContent(t, inNested, aws.trim().slice(-40));
});

test('a 10 MiB+ .tar.gz with the key deep inside, in a deflated zip among hundreds of files, is blocked', async (t) => {
  const key = pemPrivateKey();
  const files = filler(220, 48 * 1024);
  const inner = zipOf([...filler(3, 1024), { name: `deep/er/${SECRET_NAME}`, content: key }]);
  files.splice(180, 0, { name: 'vendor/lib/bundle.zip', content: inner });
  const archive = tarOf(files, { gzip: true });
  t.true(archive.length > 10 * 1024 ** 2, `${archive.length} bytes`);
  const started = performance.now();
  const result = await inspect(archive, {}, 'application/gzip');
  const elapsedMs = Math.round(performance.now() - started);
  t.log(
    `inspected a ${(archive.length / 1024 ** 2).toFixed(1)} MiB .tar.gz (221 members + 4 nested) in ${elapsedMs} ms`,
  );
  t.is(result.tier, 'BLOCK');
  t.regex(resultOf(result, 'secrets')!.reason!, /a PEM private key in member 1\/181\/4 at offset 0/);
  t.regex(resultOf(result, 'yara')!.reason!, /member 1\/181\/4/);
  t.regex(resultOf(result, 'archive')!.reason!, /searched 226 members/);
});

test('a zip bomb and a gzip bomb are recorded QUARANTINE without being inflated, with a configurable tier', async (t) => {
  const bomb = zipOfZeros(300 * 1024 ** 2);
  t.true(bomb.length < 1024 ** 2, `${bomb.length} bytes`);
  const started = performance.now();
  const zipResult = await inspect(bomb, {}, 'application/zip');
  t.true(performance.now() - started < 5000, 'refused from the declared sizes, not by inflating 300 MiB');
  t.is(zipResult.tier, 'QUARANTINE');
  t.true(zipResult.labels.includes('archive.limit-exceeded'));
  t.regex(resultOf(zipResult, 'archive')!.reason!, /member 1: unpacks to over 200 times its compressed size/);

  const gzipBomb = gzipOf(Buffer.alloc(100 * 1024 ** 2));
  const gzipResult = await inspect(gzipBomb, { INSPECTION_ARCHIVE_LIMIT_TIER: 'BLOCK' });
  t.is(gzipResult.tier, 'BLOCK');
  t.true(gzipResult.labels.includes('archive.limit-exceeded'));

  const total = await inspect(tarOf(filler(4, 512 * 1024), { gzip: true }), {
    INSPECTION_ARCHIVE_MAX_BYTES: String(1024 ** 2),
  });
  t.is(total.tier, 'QUARANTINE');
  t.regex(resultOf(total, 'archive')!.reason!, /over 1048576 bytes unpacked in all/);
});

test('past the member or depth bound the rest is not searched, and that is QUARANTINE, never a silent pass', async (t) => {
  const key = pemPrivateKey();
  // The key is deflated in a zip, the tar's ninth member: past the fifth member nothing is opened.
  const keyZip = zipOf([{ name: SECRET_NAME, content: key }]);
  const many = tarOf([...filler(8, 16), { name: 'keys.zip', content: keyZip }], { gzip: true });
  t.is((await inspect(many, {}, 'application/gzip')).tier, 'BLOCK', 'found within the default bounds');
  const result = await inspect(many, { INSPECTION_ARCHIVE_MAX_MEMBERS: '5' }, 'application/gzip');
  t.is(result.tier, 'QUARANTINE');
  t.true(result.labels.includes('archive.limit-exceeded'));
  t.regex(resultOf(result, 'archive')!.reason!, /over 5 members/);

  // Folders add no member but each is an entry to list: a million of them would take the walk its timeout.
  const folders = await inspect(zipOfFolders(20), { INSPECTION_ARCHIVE_MAX_MEMBERS: '5' }, 'application/zip');
  t.is(folders.tier, 'QUARANTINE');
  t.regex(resultOf(folders, 'archive')!.reason!, /the content: over 5 members/);

  const deep = tarOf([{ name: 'inner.zip', content: zipOf([{ name: SECRET_NAME, content: key }]) }], { gzip: true });
  const tooDeep = await inspect(deep, { INSPECTION_ARCHIVE_MAX_DEPTH: '2' });
  t.is(tooDeep.tier, 'QUARANTINE');
  t.regex(resultOf(tooDeep, 'archive')!.reason!, /member 1\/1: an archive nested over 2 deep/);
  t.is((await inspect(deep, { INSPECTION_ARCHIVE_MAX_DEPTH: '3' })).tier, 'BLOCK');
});

test('an encrypted zip member is labelled and held (tier configurable); an unreadable archive too; a clean one passes', async (t) => {
  const encrypted = zipOf(
    [
      { name: 'open.txt', content: 'nothing to see\n' },
      { name: SECRET_NAME, content: pemPrivateKey() },
    ],
    { password: 'hunter2' },
  );
  const held = await inspect(encrypted, {}, 'application/zip');
  t.is(held.tier, 'QUARANTINE');
  t.true(held.labels.includes('archive.encrypted'));
  t.regex(resultOf(held, 'archive')!.reason!, /member 1: encrypted; member 2: encrypted/);
  assertNoContent(t, held);
  t.is((await inspect(encrypted, { INSPECTION_ARCHIVE_ENCRYPTED_TIER: 'BLOCK' }, 'application/zip')).tier, 'BLOCK');
  t.is((await inspect(encrypted, { INSPECTION_ARCHIVE_ENCRYPTED_TIER: 'CLEAR' }, 'application/zip')).tier, 'CLEAR');

  const clean = zipOf([{ name: 'readme.txt', content: 'hello\n' }, ...filler(3, 4096)]);
  const passed = await inspect(clean, {}, 'application/zip');
  t.is(passed.tier, 'CLEAR', JSON.stringify(passed.pluginResults));

  const truncated = await inspect(clean.subarray(0, clean.length - 30), {}, 'application/zip');
  t.is(truncated.tier, 'QUARANTINE');
  t.true(truncated.labels.includes('archive.unreadable'));
});

test('hostile archives: truncated or bit-flipped zip, gzip and tar bytes always give a verdict, never a throw', async (t) => {
  const unpack = archiveUnpacker();
  const key = pemPrivateKey();
  const samples = [
    zipOf([
      { name: 'a.txt', content: 'hello\n'.repeat(500) },
      { name: 'k.pem', content: key },
    ]),
    tarOf(
      [
        { name: 'a.txt', content: 'x'.repeat(3000) },
        { name: 'inner.zip', content: zipOf([{ name: 'b', content: key }]) },
      ],
      {
        gzip: true,
      },
    ),
    tarOf([{ name: 'a.txt', content: 'y'.repeat(3000) }]),
  ];
  let random = 7;
  const next = (bound: number) => {
    random = (random * 1103515245 + 12345) % 2 ** 31;
    return random % bound;
  };
  let verdicts = 0;
  for (const sample of samples)
    for (let round = 0; round < 150; round += 1) {
      const bytes = Buffer.from(sample);
      const cut = round % 3 === 0 ? bytes.subarray(0, 4 + next(bytes.length - 4)) : bytes;
      for (let flip = 0; flip < 1 + (round % 4); flip += 1) {
        const at = 4 + next(cut.length - 4);
        cut[at] = cut[at]! ^ (1 << next(8));
      }
      const unpacked = await unpack(cut, new AbortController().signal);
      t.true(['CLEAR', 'QUARANTINE', 'BLOCK'].includes(unpacked.verdict.tier));
      verdicts += 1;
    }
  t.is(verdicts, 450);
});

test('a zip after other bytes (self-extracting, appended to an image or to a tar) is walked as unzip opens it', async (t) => {
  const key = pemPrivateKey();
  const zip = zipOf([
    { name: 'readme.txt', content: 'hello\n' },
    { name: SECRET_NAME, content: key },
  ]);
  const polyglot = await inspect(Buffer.concat([pngBytes(), zip]), {}, 'image/png');
  t.is(polyglot.tier, 'BLOCK', JSON.stringify(polyglot.pluginResults));
  t.regex(resultOf(polyglot, 'secrets')!.reason!, /a PEM private key in member 2 at offset 0/);
  assertNoContent(t, polyglot);

  const selfExtracting = await inspect(Buffer.concat([Buffer.from('MZ stub of a self-extractor\n'), zip]));
  t.is(selfExtracting.tier, 'BLOCK');

  const afterTar = await inspect(Buffer.concat([tarOf([{ name: 'a.txt', content: 'x' }]), zip]));
  t.is(afterTar.tier, 'BLOCK');
  t.regex(resultOf(afterTar, 'secrets')!.reason!, /member 3 at offset 0/, "numbered after the tar's member");

  const virus = zipOf([{ name: 'x.com', content: eicar() }]);
  const eicarAfter = await inspect(Buffer.concat([pngBytes(), virus]), {}, 'image/png');
  t.is(eicarAfter.tier, 'BLOCK');
  t.regex(resultOf(eicarAfter, 'yara')!.reason!, /member 1/);

  const png = await inspect(pngBytes(), {}, 'image/png');
  t.false(png.labels.includes('archive.zip'), 'an image alone is no archive');
});

test('a zip whose local headers disagree with its central directory, or hide unlisted entries, is held', async (t) => {
  const key = pemPrivateKey();
  const deflated = zipOf([{ name: SECRET_NAME, content: key + 'padding\n'.repeat(200) }]);
  // The central directory says stored: read that way, the member is deflate output with no key in it.
  const lying = await inspect(storedInCentralDirectory(deflated), {}, 'application/zip');
  t.is(lying.tier, 'QUARANTINE', JSON.stringify(lying.pluginResults));
  t.true(lying.labels.includes('archive.unreadable'));
  t.regex(resultOf(lying, 'archive')!.reason!, /member 1: its local header names another method/);
  assertNoContent(t, lying);

  // The key's local entry comes first, but the central directory lists only a harmless member.
  const cover = zipOf([{ name: 'readme.txt', content: 'hello\n' }]);
  const hidden = await inspect(withUnlistedLocalEntries(deflated, cover), {}, 'application/zip');
  t.is(hidden.tier, 'QUARANTINE', JSON.stringify(hidden.pluginResults));
  t.regex(resultOf(hidden, 'archive')!.reason!, /the content: local entries its central directory does not list/);
  assertNoContent(t, hidden);

  // Its offsets left as they were: unzip skips the key's entry as bytes before the zip, a streaming extractor does not.
  const locals = deflated.subarray(0, deflated.readUInt32LE(deflated.length - 22 + 16));
  const before = await inspect(Buffer.concat([locals, cover]), {}, 'application/zip');
  t.is(before.tier, 'QUARANTINE');
  t.regex(resultOf(before, 'archive')!.reason!, /the content: local entries before the zip it ends with/);

  // Inside a streamed member's declared size, after its deflate stream and data descriptor: what a streaming
  // extractor (bit 3: it inflates to the stream's end, then reads on) unpacks next.
  const streamed = withEntriesAfterDeflateStream(
    zipOf([{ name: 'readme.txt', content: 'hello\n'.repeat(80) }]),
    deflated,
  );
  const inside = await inspect(streamed, {}, 'application/zip');
  t.is(inside.tier, 'QUARANTINE', JSON.stringify(inside.pluginResults));
  t.regex(resultOf(inside, 'archive')!.reason!, /the content: local entries its central directory does not list/);
  t.regex(resultOf(inside, 'archive')!.reason!, /searched 1 member/, 'the listed member is still searched');

  const stored = zipOf([{ name: 'n.zip', content: cover }, ...filler(2, 4096)], { store: true });
  t.is((await inspect(stored, {}, 'application/zip')).tier, 'CLEAR', 'a stored zip in a zip hides nothing');
  const big = zipOf(filler(40, 256 * 1024), { store: false });
  t.is(
    (await inspect(big, {}, 'application/zip')).tier,
    'CLEAR',
    '10 MiB of deflated random bytes: no false local header',
  );
});

test('a tar entry of a type the parser skips is held; a pre-POSIX tar without the ustar magic is walked', async (t) => {
  const keys = zipOf([{ name: SECRET_NAME, content: pemPrivateKey() }]);
  const tar = tarOf([{ name: 'keys.zip', content: keys }]);
  t.is((await inspect(gzipOf(tar))).tier, 'BLOCK');
  // GNU tar extracts an unknown type letter, or a sparse file, as a file: the zip would reach the buyer.
  for (const type of ['Z', 'S']) {
    const skipped = await inspect(gzipOf(withFirstTarHeader(tar, { type })), {}, 'application/gzip');
    t.is(skipped.tier, 'QUARANTINE', type);
    t.regex(resultOf(skipped, 'archive')!.reason!, /member 1: 1 entry of a type not read/);
    assertNoContent(t, skipped);
  }
  const v7 = await inspect(gzipOf(withFirstTarHeader(tar, { v7: true })), {}, 'application/gzip');
  t.is(v7.tier, 'BLOCK', JSON.stringify(v7.pluginResults));
  t.regex(resultOf(v7, 'secrets')!.reason!, /member 1\/1\/1 at offset 0/);
  t.true(v7.labels.includes('archive.tar'));
});

test('a compressed stream or archive of a format the walk does not open (xz, bzip2, 7z, RAR, ...) is held, not passed', async (t) => {
  const tar = tarOf([{ name: SECRET_NAME, content: pemPrivateKey() }]);
  for (const [command, name] of [
    ['xz', 'an xz stream'],
    ['bzip2', 'a bzip2 stream'],
  ] as const) {
    const result = await inspect(compressedBy(command, tar));
    t.is(result.tier, 'QUARANTINE', `${command}: ${JSON.stringify(result.pluginResults)}`);
    t.true(result.labels.includes('archive.unreadable'));
    t.is(
      resultOf(result, 'archive')!.reason,
      `not every member could be searched (the content: ${name} is not read); searched 0 members, 0 bytes unpacked`,
    );
    assertNoContent(t, result);
  }
  const nested = await inspect(
    zipOf([{ name: 'keys.tar.xz', content: compressedBy('xz', tar) }]),
    {},
    'application/zip',
  );
  t.is(nested.tier, 'QUARANTINE');
  t.regex(resultOf(nested, 'archive')!.reason!, /member 1: an xz stream is not read/);
  const sevenZip = Buffer.concat([Buffer.from([0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c, 0, 4]), randomBytes(200)]);
  t.regex(resultOf(await inspect(sevenZip), 'archive')!.reason!, /a 7z archive is not read/);
  const text = await inspect(Buffer.from('BZh is how a bzip2 stream begins, and this is not one\n'));
  t.is(text.tier, 'CLEAR', 'BZh and a letter is no bzip2 stream');
});
