/**
 * docs/FORMAT.md section 8's worked example is a test: its manifest and batch
 * are read out of the document, read back through the archive reader (from
 * an in-memory object store) and verified, and its shell script is run.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { readIndex } from '../../archive/archiveIndex.ts';
import { ArchiveReader } from '../../archive/archiveReader.ts';
import { batchKey, manifestKeyOf } from '../../archive/layout.ts';
import { manifestSignatureProblem, parseManifest, type Manifest } from '../../archive/manifest.ts';
import type { ListPage, ObjectStore } from '../../archive/objectStore.ts';
import { parseRegistryText } from '../../chain/registry.ts';
import { zlibCompression } from '../../infra/adapters/objectStores/gzip.ts';
import { readLinesText } from '../../infra/adapters/files/fileReader.ts';
import { inProcessChecker } from '../../verifier/inProcessChecker.ts';
import { verify } from '../../verifier/verify.ts';

const DOC = readFileSync(new URL('../../docs/FORMAT.md', import.meta.url), 'utf8');
const HAPPY = new URL('../vectors/cases/happy/', import.meta.url);
const registry = parseRegistryText(readFileSync(new URL('signers.json', HAPPY), 'utf8'));

function block(name: string): string {
  const match = new RegExp(`^\`\`\`\\w+ example=${name}\\n([\\s\\S]*?)\\n\`\`\`$`, 'm').exec(DOC);
  if (!match) throw new Error(`docs/FORMAT.md has no block example=${name}`);
  return match[1]!;
}

const [objectKey, manifestKey] = block('archive-keys').split('\n') as [string, string];
const manifestBytes = Buffer.from(`${block('archive-manifest')}\n`);
const object = Buffer.from(block('archive-batch-base64').replaceAll('\n', ''), 'base64');
const mainLines = readLinesText(readFileSync(new URL('records.jsonl', HAPPY), 'utf8')).filter((line) =>
  line.includes('"chain":"main"'),
);

/** The example's two objects, in memory. */
function memoryStore(objects: ReadonlyMap<string, Uint8Array>): ObjectStore {
  return {
    description: 'memory',
    async *list(prefix): AsyncIterable<ListPage> {
      yield { keys: [...objects.keys()].filter((key) => key.startsWith(prefix)).sort(), folders: [] };
    },
    get: async (key) => objects.get(key),
    head: async (key) => (objects.has(key) ? { sizeBytes: objects.get(key)!.byteLength } : undefined),
    putIfAbsent: async () => 'exists',
  };
}

test('the example manifest names its batch, records 1 to 3 of main in the happy vector, and verifies under the vectors registry', (t) => {
  const manifest = parseManifest(manifestBytes) as Manifest;
  t.is(manifestSignatureProblem(manifest, registry), undefined);
  t.is(
    objectKey,
    batchKey(manifest.service, manifest.chain, manifest.from_seq, manifest.to_seq, JSON.parse(mainLines[0]!).ts),
  );
  t.is(manifestKey, manifestKeyOf(objectKey));
  t.is(createHash('sha256').update(object).digest('hex'), manifest.object_sha256);
  t.is(gunzipSync(object).toString('utf8'), `${mainLines.slice(0, 3).join('\n')}\n`);
  t.is(manifest.last_hash, (JSON.parse(mainLines[2]!) as { hash: string }).hash);
});

test('the example archive verifies through the archive reader, and a flipped byte in its object is batch-hash-mismatch', async (t) => {
  const good = new Map([
    [objectKey, object],
    [manifestKey, manifestBytes],
  ]);
  const read = async (objects: ReadonlyMap<string, Uint8Array>) => {
    const store = memoryStore(objects);
    return verify(
      new ArchiveReader({
        store,
        compression: zlibCompression,
        registry,
        index: await readIndex(store, 'marketplace'),
      }),
      inProcessChecker(registry),
    );
  };
  const report = await read(good);
  t.true(report.ok, JSON.stringify(report.finding));
  t.like(report.chains[0], { chain: 'main', fromSeq: 1, toSeq: 3, records: 3 });
  const flipped = Buffer.from(object);
  flipped.writeUInt8(flipped[100]! ^ 0x01, 100);
  t.like(
    (
      await read(
        new Map([
          [objectKey, flipped],
          [manifestKey, manifestBytes],
        ]),
      )
    ).finding,
    { chain: 'main', seq: 1, reason: 'batch-hash-mismatch', batch: objectKey },
  );
});

function runScript(manifestText: string): { status: number | null; stdout: string } {
  const directory = mkdtempSync(join(tmpdir(), 'chainbook-archive-example-'));
  try {
    writeFileSync(join(directory, 'batch.jsonl.gz'), object);
    writeFileSync(join(directory, 'manifest.json'), manifestText);
    writeFileSync(join(directory, 'pub.pem'), registry.signers.get('vectors-ed25519-v1')!.publicKeyPem);
    const result = spawnSync('bash', ['-euo', 'pipefail', '-c', block('archive-openssl')], {
      cwd: directory,
      encoding: 'utf8',
    });
    return { status: result.status, stdout: result.stdout };
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

test('the example script checks the object hash and the manifest signature with standard tools, and fails on a changed manifest', (t) => {
  const manifest = parseManifest(manifestBytes) as Manifest;
  const good = runScript(manifestBytes.toString('utf8'));
  t.is(good.status, 0);
  t.is(good.stdout, `object OK\nSignature Verified Successfully\n3\n${manifest.last_hash}\n`);
  const bad = runScript(manifestBytes.toString('utf8').replace('"pii_included":false', '"pii_included":true'));
  t.not(bad.status, 0);
  t.notRegex(bad.stdout, /Verified Successfully/);
});
