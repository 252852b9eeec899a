/**
 * The streamed bundle archive (infra/adapters/files/bundleTarGzip.ts): what
 * the system tar unpacks from it, paths longer than a ustar header holds, and
 * writes that wait for the reader instead of piling up.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleTarGzip } from '../../../../infra/adapters/files/bundleTarGzip.ts';
import { tempDir } from '../../../helpers/runtime.ts';

async function collect(body: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of body) chunks.push(chunk);
  return Buffer.concat(chunks);
}

test('tar unpacks the entries with their bytes, modes, empty folders and a path longer than ustar holds', async (t) => {
  const work = tempDir('tar-unit');
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  const archive = bundleTarGzip('bundle', Date.parse('2026-11-01T00:00:00Z'));
  const collected = collect(archive.body);
  const big = randomBytes(700_001);
  const longPath = `batches/${'s'.repeat(60)}/2026-11-01/${'c'.repeat(63)}-0000000000000001-0000000000000500.manifest.json`;
  await archive.output.write('batches/a/b.jsonl.gz', big);
  await archive.output.write(longPath, 'long\n');
  await archive.output.makeFolder('proofs');
  await archive.output.write('check.sh', '#!/usr/bin/env bash\necho ok\n', { executable: true });
  await archive.output.write('README.md', 'é\n');
  await archive.finish();
  const file = join(work, 'bundle.tar.gz');
  writeFileSync(file, await collected);
  const out = join(work, 'out');
  mkdirSync(out);
  const untar = spawnSync('tar', ['-xzf', file, '-C', out], { encoding: 'utf8' });
  t.is(untar.status, 0, untar.stderr);
  t.true(readFileSync(join(out, 'bundle/batches/a/b.jsonl.gz')).equals(big));
  t.is(readFileSync(join(out, 'bundle', longPath), 'utf8'), 'long\n');
  t.true(statSync(join(out, 'bundle/proofs')).isDirectory());
  t.is(statSync(join(out, 'bundle/check.sh')).mode & 0o777, 0o755);
  t.is(statSync(join(out, 'bundle/README.md')).mode & 0o777, 0o644);
  t.is(readFileSync(join(out, 'bundle/README.md'), 'utf8'), 'é\n');
  const listing = spawnSync('tar', ['-tzvf', file], { encoding: 'utf8' }).stdout;
  t.regex(listing, /2026-11-01/, 'entries carry the bundle time');
});

test('a write waits while nobody reads, then goes on as the reader takes the bytes', async (t) => {
  const archive = bundleTarGzip('bundle', 0);
  let written = false;
  const writing = Promise.resolve(archive.output.write('batches/x.jsonl.gz', randomBytes(4_000_000))).then(() => {
    written = true;
  });
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.false(written, 'held until read: the bytes are not queued without bound');
  const reading = collect(archive.body);
  await writing;
  await archive.finish();
  t.true((await reading).length > 4_000_000);
});

test('a write fails once the reader has gone', async (t) => {
  const archive = bundleTarGzip('bundle', 0);
  const writing = Promise.resolve(archive.output.write('batches/x.jsonl.gz', randomBytes(4_000_000)));
  const iterator = archive.body[Symbol.asyncIterator]();
  t.false((await iterator.next()).done);
  await iterator.return?.();
  await t.throwsAsync(writing, { message: /download ended/ });
  await t.throwsAsync(Promise.resolve(archive.output.write('late.json', '{}')), { message: /download ended/ });
});

test('a failure before the first byte is what the reader gets', async (t) => {
  const archive = bundleTarGzip('bundle', 0);
  archive.fail(new Error('BUNDLE_RANGE_EMPTY'));
  await t.throwsAsync(collect(archive.body), { message: 'BUNDLE_RANGE_EMPTY' });
});
