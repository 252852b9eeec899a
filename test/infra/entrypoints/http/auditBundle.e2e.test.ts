/**
 * GET /audit/bundle over real HTTP: the bundle of thousands of records comes
 * as a .tar.gz that the system tar unpacks into the files the CLI's
 * audit-bundle writes for the same range, and its check.sh (standard tools
 * only) passes. Refusals come before the first byte, as JSON with a code.
 */
import test from 'ava';
import { checkBundle } from '../../../../auditor/checker.mjs';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { runDemoWorkload } from '../../../../commands/demo/demoWorkload.ts';
import { runCli } from '../../../helpers/cli.ts';
import { testServer, type TestServer } from '../../../helpers/http.ts';
import { tempDir } from '../../../helpers/runtime.ts';

/** Records appended beside the demo's: enough for several batches, tar entries and gzip flushes. */
const FILLER_RECORDS = 3000;
const FILLER_PER_APPEND = 100;
const RANGE = 'fromTs=2020-01-01T00:00:00Z&toTs=2100-01-01T00:00:00Z';

async function fill(server: TestServer): Promise<void> {
  for (let first = 0; first < FILLER_RECORDS; first += FILLER_PER_APPEND)
    await server.app.runtime.store.append(
      'main',
      Array.from({ length: FILLER_PER_APPEND }, (_, index) => ({
        stream: `note-${first + index}`,
        type: 'note.recorded',
        // Incompressible bytes, so that the gzip stream flushes many times.
        data: { n: first + index, noise: randomBytes(256).toString('base64') },
        actor: { id: 'filler', role: 'Service' as const },
      })),
    );
}

/**
 * GET /audit/bundle on a connection of its own (node:http, no keep-alive pool to race the server's idle timeout):
 * abandoned after its first bytes, or read to the end. Its status; read whole, it must be over a megabyte.
 */
function download(server: TestServer, { abandon }: { abandon: boolean }): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = get(
      `${server.url}/audit/bundle?${RANGE}`,
      { agent: false, headers: { authorization: `Bearer ${server.tokens.auditor}` } },
      (response) => {
        let bytes = 0;
        response.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (abandon) {
            request.destroy();
            resolve(response.statusCode ?? 0);
          }
        });
        response.on('end', () =>
          bytes > 1_000_000 ? resolve(response.statusCode ?? 0) : reject(new Error(`only ${bytes} bytes`)),
        );
        response.on('error', (error) => (abandon ? undefined : reject(error)));
      },
    );
    request.on('error', (error) => (abandon ? undefined : reject(error)));
  });
}

/** Every file and folder under a folder: relative path → mode bits and, for a file, its bytes. */
function tree(folder: string): Map<string, { mode: number; bytes?: Buffer }> {
  const entries = new Map<string, { mode: number; bytes?: Buffer }>();
  for (const entry of readdirSync(folder, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    const mode = statSync(path).mode & 0o777;
    entries.set(relative(folder, path), entry.isFile() ? { mode, bytes: readFileSync(path) } : { mode });
  }
  return entries;
}

/** bundle.json names the moment it was made (created_at, which bundle.sig signs with the rest). */
function withoutCreatedAtMember(bytes: Buffer): string {
  return bytes.toString('utf8').replace(/"created_at": "[^"]+"/, '"created_at": "<createdAt>"');
}

/** README.md names the moment it was made; the rest of it is the same. */
function withoutCreatedAt(bytes: Buffer): string {
  return bytes.toString('utf8').replace(/ at \d{4}-\d{2}-\d{2}T[\d:.]+Z\./, ' at <createdAt>.');
}

test('an auditor downloads the bundle as a streamed .tar.gz that tar unpacks into the files the CLI writes, and its check.sh passes', async (t) => {
  const archive = tempDir('http-bundle-archive');
  const work = tempDir('http-bundle');
  t.teardown(() => {
    rmSync(archive, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });
  const server = await testServer(t, { env: { ARCHIVE_TARGET: archive } });
  const summary = await runDemoWorkload(server.app.deps, 3, () => undefined);
  await fill(server);
  // A proof in the data folder, as the CLI test keeps one: both read <data dir>/proofs.
  mkdirSync(join(server.services.config.dataDir, 'proofs'));
  writeFileSync(
    join(server.services.config.dataDir, 'proofs', `${summary.proof!.proof_id}.json`),
    JSON.stringify(summary.proof, null, 2),
  );
  const env = {
    DATABASE_URL: server.test.location,
    CHAINBOOK_DATA_DIR: server.services.config.dataDir,
    ARCHIVE_TARGET: archive,
  };
  const exported = await runCli(['export', '--batch-records', '500', '--threads', '0'], { env });
  t.is(exported.code, 0, exported.stdout + exported.stderr);
  const cliOut = join(work, 'cli');
  const written = await runCli(
    [
      'audit-bundle',
      '--from-ts',
      '2020-01-01T00:00:00Z',
      '--to-ts',
      '2100-01-01T00:00:00Z',
      '--out',
      cliOut,
      '--threads',
      '0',
    ],
    { env },
  );
  t.is(written.code, 0, written.stdout + written.stderr);

  const response = await fetch(`${server.url}/audit/bundle?${RANGE}`, {
    headers: { authorization: `Bearer ${server.tokens.auditor}` },
  });
  t.is(response.status, 200);
  t.is(response.headers.get('content-type'), 'application/gzip');
  const name = 'audit-bundle-main-20200101T000000Z-21000101T000000Z';
  t.is(response.headers.get('content-disposition'), `attachment; filename="${name}.tar.gz"`);
  t.is(response.headers.get('content-length'), null, 'streamed, not sized in advance');
  const file = join(work, 'bundle.tar.gz');
  await pipeline(Readable.fromWeb(response.body! as WebReadableStream<Uint8Array>), createWriteStream(file));
  const unpacked = join(work, 'unpacked');
  mkdirSync(unpacked);
  const untar = spawnSync('tar', ['-xzf', file, '-C', unpacked], { encoding: 'utf8' });
  t.is(untar.status, 0, untar.stderr);
  t.deepEqual(readdirSync(unpacked), [name], 'one top folder');
  const bundle = join(unpacked, name);

  const check = spawnSync('bash', ['check.sh'], { cwd: bundle, encoding: 'utf8' });
  t.is(check.status, 0, check.stdout + check.stderr);
  t.regex(check.stdout, /bundle OK: \d+ batches, \d+ records linked, \d+ ledger proofs, [1-9]\d* delivery proofs\n$/);

  const fromHttp = tree(bundle);
  const fromCli = tree(cliOut);
  t.deepEqual([...fromHttp.keys()].sort(), [...fromCli.keys()].sort(), 'the same files and folders');
  t.true([...fromCli.keys()].filter((path) => path.endsWith('.jsonl.gz')).length >= 6, 'several batches');
  for (const [path, cli] of fromCli) {
    const http = fromHttp.get(path)!;
    t.is(http.mode, cli.mode, `${path}: mode`);
    if (cli.bytes === undefined) continue;
    if (path === 'README.md') t.is(withoutCreatedAt(http.bytes!), withoutCreatedAt(cli.bytes));
    else if (path === 'bundle.json') t.is(withoutCreatedAtMember(http.bytes!), withoutCreatedAtMember(cli.bytes));
    // bundle.sig signs bundle.json, created_at included: each verifies over its own (the checker below).
    else if (path !== 'bundle.sig') t.true(http.bytes!.equals(cli.bytes), `${path}: bytes`);
  }
  for (const folder of [bundle, cliOut]) {
    const files = new Map(
      [...tree(folder)].flatMap(([path, entry]) =>
        entry.bytes ? [[path, async () => Uint8Array.from(entry.bytes!)] as const] : [],
      ),
    );
    const report = await checkBundle(files);
    t.deepEqual(
      report.findings.filter((finding) => finding.reason === 'bundle-signature-invalid'),
      [],
      `${folder}: bundle.sig verifies over bundle.json`,
    );
  }
  t.true(statSync(file).size > 1_000_000, 'a realistic size');

  // Downloads abandoned after their first bytes end their producers: more of them than MAX_BUNDLES_IN_FLIGHT, and the
  // next download is still made (a producer left waiting for its reader would hold its place and answer BUNDLES_BUSY).
  for (let abandoned = 0; abandoned < 3; abandoned++) {
    t.is(await download(server, { abandon: true }), 200);
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  t.is(await download(server, { abandon: false }), 200, 'the next one is made, whole');
});

test('the bundle route refuses other roles, bad parameters and an empty range with a code, before any byte', async (t) => {
  const archive = tempDir('http-bundle-refusals');
  t.teardown(() => rmSync(archive, { recursive: true, force: true }));
  const server = await testServer(t, { env: { ARCHIVE_TARGET: archive } });
  await runDemoWorkload(server.app.deps, 1, () => undefined);
  const env = {
    DATABASE_URL: server.test.location,
    CHAINBOOK_DATA_DIR: server.services.config.dataDir,
    ARCHIVE_TARGET: archive,
  };
  t.is((await runCli(['export', '--threads', '0'], { env })).code, 0);

  for (const as of ['buyer', 'publisher'] as const) {
    const refused = await server.request('GET', `/audit/bundle?${RANGE}`, { as });
    t.is(refused.status, 403, as);
    t.is(refused.body.error.code, 'FORBIDDEN_ROLE');
  }
  for (const query of [
    '',
    'fromTs=2020-01-01&toTs=2100-01-01T00:00:00Z',
    'fromTs=2020-13-45T00:00:00Z&toTs=2100-01-01T00:00:00Z',
    'fromTs=2100-01-01T00:00:00Z&toTs=2020-01-01T00:00:00Z',
    `${RANGE}&chain=Not%20a%20chain`,
  ]) {
    const bad = await server.request('GET', `/audit/bundle?${query}`, { as: 'auditor' });
    t.is(bad.status, 400, query);
    t.is(bad.body.error.code, 'INVALID_INPUT', query);
  }
  const empty = await server.request('GET', '/audit/bundle?fromTs=2001-01-01T00:00:00Z&toTs=2001-01-02T00:00:00Z', {
    as: 'operator',
  });
  t.is(empty.status, 404, empty.text);
  t.is(empty.body.error.code, 'BUNDLE_RANGE_EMPTY');
  t.is(empty.headers.get('content-disposition'), null, 'an error is not an attachment');
  const ok = await server.request('GET', `/audit/bundle?${RANGE}`, { as: 'auditor' });
  t.is(ok.status, 200, 'and the server still answers');
});
