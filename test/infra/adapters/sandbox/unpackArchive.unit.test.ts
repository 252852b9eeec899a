/**
 * The preview artifact's unpacking (infra/adapters/sandbox/unpackArchive.ts): a good archive is unpacked
 * with fixed modes and its inner links; every hostile archive is refused with PREVIEW_ARCHIVE_REFUSED
 * before anything is written.
 */
import { lstat, mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { unpackArchive, type ArchiveBounds } from '../../../../infra/adapters/sandbox/unpackArchive.ts';
import { tarGzOf, tarOf, zipOf, type ArtifactEntry } from '../../../helpers/previewArtifacts.ts';

const BOUNDS: ArchiveBounds = { maxEntries: 16, maxUnpackedBytes: 1024 * 1024, maxPathBytes: 200, maxPathDepth: 8 };

async function emptyFolder(t: ExecutionContext): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), 'preview-unpack-'));
  t.teardown(() => rm(folder, { recursive: true, force: true }));
  return folder;
}

test('a good archive is unpacked: files with fixed modes, folders, a link that stays inside', async (t) => {
  const folder = await emptyFolder(t);
  const archive = tarGzOf([
    { path: 'bin/', type: 'Directory', mode: 0o777 },
    { path: 'bin/run', content: '#!/bin/sh\necho hi\n', mode: 0o4777 },
    { path: 'data/words.txt', content: 'alpha\n', mode: 0o666 },
    { path: 'bin/words', type: 'SymbolicLink', linkpath: '../data/words.txt' },
  ]);
  t.is(await unpackArchive(archive, folder, BOUNDS), 4);
  t.is((await lstat(join(folder, 'bin/run'))).mode & 0o7777, 0o755);
  t.is((await lstat(join(folder, 'data/words.txt'))).mode & 0o7777, 0o644);
  t.is(await readlink(join(folder, 'bin/words')), '../data/words.txt');
  t.is(await readFile(join(folder, 'bin/words'), 'utf8'), 'alpha\n');
});

test('a good zip is unpacked: files with fixed modes, folders, a link that stays inside', async (t) => {
  const folder = await emptyFolder(t);
  const archive = zipOf([
    { path: 'bin/', mode: 0o040755 },
    { path: 'bin/run', content: '#!/bin/sh\necho hi\n', mode: 0o104777 },
    { path: 'data/words.txt', content: 'alpha\n', mode: 0o100666 },
    { path: 'bin/words', content: '../data/words.txt', mode: 0o120777 },
  ]);
  t.is(await unpackArchive(archive, folder, BOUNDS), 4);
  t.is((await lstat(join(folder, 'bin/run'))).mode & 0o7777, 0o755);
  t.is((await lstat(join(folder, 'data/words.txt'))).mode & 0o7777, 0o644);
  t.is(await readlink(join(folder, 'bin/words')), '../data/words.txt');
  t.is(await readFile(join(folder, 'bin/words'), 'utf8'), 'alpha\n');
});

/** The first bytes of the first entry's deflated data (after its 30-byte header and 4-byte name) made invalid. */
function corruptDeflate(zip: Buffer): Buffer {
  const corrupt = Buffer.from(zip);
  corrupt.fill(0xff, 34, 40);
  return corrupt;
}

const HOSTILE: Record<string, Buffer> = {
  'a zip with a ../ path': zipOf([{ path: '../escape', content: 'x' }]),
  'a zip with an absolute path': zipOf([{ path: '/tmp/preview-escape', content: 'x' }]),
  'a zip with a symbolic link out': zipOf([{ path: 'shadow', content: '/etc/shadow', mode: 0o120777 }]),
  'a zip with a symbolic link up and out': zipOf([{ path: 'a/up', content: '../../etc', mode: 0o120777 }]),
  'a zip with a device': zipOf([{ path: 'null', mode: 0o020666 }]),
  'a zip bomb (64 MiB of zeros in 64 KiB)': zipOf([{ path: 'zeros', content: Buffer.alloc(64 * 1024 * 1024) }]),
  'a zip bomb that declares a small size': zipOf([{ path: 'zeros', content: Buffer.alloc(4 * 1024 * 1024) }], 100),
  'a zip with too many entries': zipOf(Array.from({ length: 17 }, (_, index) => ({ path: `f${index}`, content: 'x' }))),
  'a zip with the same path twice': zipOf([
    { path: 'file', content: 'x' },
    { path: 'file', content: 'y' },
  ]),
  'a zip whose deflated data is corrupt (the reader’s inflater fails)': corruptDeflate(
    zipOf([{ path: 'file', content: 'x'.repeat(5000) }]),
  ),
  'a truncated zip': zipOf([{ path: 'file', content: 'x'.repeat(5000) }]).subarray(0, 100),
  'a ../ path': tarGzOf([{ path: '../escape', content: 'x' }]),
  'a ../ inside a path': tarGzOf([{ path: 'a/../../escape', content: 'x' }]),
  'an absolute path': tarGzOf([{ path: '/tmp/preview-escape', content: 'x' }]),
  'an absolute symbolic link': tarGzOf([{ path: 'shadow', type: 'SymbolicLink', linkpath: '/etc/shadow' }]),
  'a symbolic link up and out': tarGzOf([{ path: 'a/up', type: 'SymbolicLink', linkpath: '../../etc' }]),
  'a chain of links out: one to `..`, another through it': tarGzOf([
    { path: 'a/up', type: 'SymbolicLink', linkpath: '..' },
    { path: 'out', type: 'SymbolicLink', linkpath: 'a/up/../etc' },
  ]),
  'a link through another link, even one that stays inside': tarGzOf([
    { path: 'data', type: 'Directory' },
    { path: 'alias', type: 'SymbolicLink', linkpath: 'data' },
    { path: 'via', type: 'SymbolicLink', linkpath: 'alias/file' },
  ]),
  'a file written through a link': tarGzOf([
    { path: 'inside', type: 'SymbolicLink', linkpath: 'folder' },
    { path: 'inside/file', content: 'x' },
  ]),
  'a hard link': tarGzOf([
    { path: 'file', content: 'x' },
    { path: 'link', type: 'Link', linkpath: 'file' },
  ]),
  'a character device': tarGzOf([{ path: 'null', type: 'CharacterDevice' }]),
  'a pipe': tarGzOf([{ path: 'pipe', type: 'FIFO' }]),
  'too many entries': tarGzOf(
    Array.from({ length: 17 }, (_, index): ArtifactEntry => ({ path: `f${index}`, content: 'x' })),
  ),
  'more unpacked bytes than the bound': tarGzOf([{ path: 'big', content: Buffer.alloc(BOUNDS.maxUnpackedBytes + 1) }]),
  'a compression bomb (64 MiB of zeros in 64 KiB)': gzipSync(Buffer.alloc(64 * 1024 * 1024), { level: 9 }),
  'a path longer than the bound': tarGzOf([
    { path: `${'a'.repeat(70)}/${'b'.repeat(70)}/${'c'.repeat(70)}`, content: 'x' },
  ]),
  'a path deeper than the bound': tarGzOf([{ path: 'a/b/c/d/e/f/g/h/i', content: 'x' }]),
  'the same path twice': tarGzOf([
    { path: 'file', content: 'x' },
    { path: 'file', content: 'y' },
  ]),
  'not gzip': tarOf([{ path: 'file', content: 'x' }]),
  'gzip of something that is not tar': gzipSync(Buffer.from('this is not a tar stream at all'.repeat(40))),
  'a truncated gzip stream': tarGzOf([{ path: 'file', content: 'x'.repeat(5000) }]).subarray(0, 60),
};

for (const [what, archive] of Object.entries(HOSTILE)) {
  test(`an archive with ${what} is refused and nothing is written`, async (t) => {
    const folder = await emptyFolder(t);
    const error = await t.throwsAsync(unpackArchive(archive, folder, BOUNDS));
    t.is((error as { code?: string }).code, 'PREVIEW_ARCHIVE_REFUSED', error?.message);
    t.deepEqual(await readdir(folder), []);
  });
}
