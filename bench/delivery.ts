/**
 * Delivery, two ways, against `openssl speed -evp aes-256-gcm` (the AES-GCM
 * this machine can do on one core) measured in the same run:
 *
 * - the envelope: an artifact read from the artifact store (a folder),
 *   encrypted to a buyer's X25519 key as a delivery envelope (docs/FORMAT.md
 *   section 11) and written to a delivery folder; then the buyer's side,
 *   decrypted and hashed; and the envelope alone, with no store;
 * - the whole path over HTTP (bench/deliveryPath.ts): the app on the embedded
 *   PGlite with folder stores, the artifact uploaded, approved, listed,
 *   bought and finalized, then requestDelivery, the download through the
 *   link and the decryption, each timed, with the RSS of each step.
 *
 * 1 MiB, 256 MiB and 1 GiB, each measurement of each size in its own process
 * so that its peak RSS is its own.
 *   node --import tsx bench/delivery.ts                 every size, both ways
 *   node --import tsx bench/delivery.ts 1048576         the envelope, one size in bytes
 *   node --import tsx bench/delivery.ts path 1048576    the whole path, one size in bytes
 */
import { execFileSync } from 'node:child_process';
import { createCipheriv, createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { decryptEnvelope, encryptEnvelope } from '../commands/delivery/deliveryEnvelope.ts';
import { deliveryKeyOf } from '../commands/orders/deliveryKey.ts';
import { FolderBlobStore } from '../infra/adapters/objectStores/folderBlobStore.ts';
import { deliveryPath, type PathFigures } from './deliveryPath.ts';
import { benchDir, format } from './lib.ts';

const MIB = 1024 * 1024;
// 256 MiB between them shows whether peak RSS follows the size or levels off.
const SIZES = [MIB, 256 * MIB, 1024 * MIB];

interface Figures {
  sizeBytes: number;
  /** The envelope alone: one block repeated, encrypted to a sink (no store, no disk). */
  envelopeOnlyMs: number;
  encryptMs: number;
  decryptMs: number;
  ciphertextBytes: number;
  peakRssMiB: number;
}

/** The artifact, written to the store in 1 MiB blocks of random bytes; its SHA-256. */
async function writeArtifact(store: FolderBlobStore, sizeBytes: number): Promise<string> {
  const hash = createHash('sha256');
  async function* blocks(): AsyncIterable<Uint8Array> {
    for (let offset = 0; offset < sizeBytes; offset += MIB) {
      const block = randomBytes(Math.min(MIB, sizeBytes - offset));
      hash.update(block);
      yield block;
    }
  }
  await store.put('artifacts/bench/artifact', blocks());
  return hash.digest('hex');
}

async function envelopeOnly(sizeBytes: number, recipient: ReturnType<typeof deliveryKeyOf>): Promise<number> {
  const block = randomBytes(MIB);
  const hash = createHash('sha256');
  for (let offset = 0; offset < sizeBytes; offset += MIB)
    hash.update(block.subarray(0, Math.min(MIB, sizeBytes - offset)));
  async function* repeated(): AsyncIterable<Uint8Array> {
    for (let offset = 0; offset < sizeBytes; offset += MIB) yield block.subarray(0, Math.min(MIB, sizeBytes - offset));
  }
  const started = performance.now();
  let bytes = 0;
  for await (const piece of encryptEnvelope(repeated(), recipient, { sizeBytes, artifactSha256: hash.digest('hex') }))
    bytes += piece.length;
  return bytes > 0 ? performance.now() - started : Number.NaN;
}

async function one(sizeBytes: number): Promise<Figures> {
  const directory = benchDir('delivery');
  try {
    const artifacts = new FolderBlobStore(`${directory}/artifacts`);
    const deliveries = new FolderBlobStore(`${directory}/deliveries`);
    const artifactSha256 = await writeArtifact(artifacts, sizeBytes);
    const pair = generateKeyPairSync('x25519');
    const recipient = deliveryKeyOf(pair.publicKey.export({ type: 'spki', format: 'pem' }) as string);
    const encryptStarted = performance.now();
    const envelope = encryptEnvelope((await artifacts.get('artifacts/bench/artifact'))!, recipient, {
      sizeBytes,
      artifactSha256,
    });
    await deliveries.put('deliveries/bench/envelope', envelope);
    const encryptMs = performance.now() - encryptStarted;
    const ciphertextBytes = (await deliveries.head('deliveries/bench/envelope'))!.sizeBytes;
    const decryptStarted = performance.now();
    const hash = createHash('sha256');
    for await (const piece of decryptEnvelope((await deliveries.get('deliveries/bench/envelope'))!, pair.privateKey))
      hash.update(piece);
    const decryptMs = performance.now() - decryptStarted;
    if (hash.digest('hex') !== artifactSha256) throw new Error('the decrypted artifact differs');
    const envelopeOnlyMs = await envelopeOnly(sizeBytes, recipient);
    return {
      sizeBytes,
      envelopeOnlyMs,
      encryptMs,
      decryptMs,
      ciphertextBytes,
      peakRssMiB: process.resourceUsage().maxRSS / 1024,
    };
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

/** `openssl speed -evp aes-256-gcm` over 1 MiB blocks: bytes per second on one core. */
function opensslAesGcmBytesPerSecond(seconds = 3): number {
  const output = execFileSync(
    'openssl',
    ['speed', '-evp', 'aes-256-gcm', '-seconds', String(seconds), '-bytes', String(MIB)],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
  );
  const match = /AES-256-GCM\s+([\d.]+)k/i.exec(output);
  if (!match) throw new Error(`cannot read openssl speed output:\n${output}`);
  return Number(match[1]) * 1000;
}

const mibPerSecond = (bytes: number, ms: number): number => bytes / MIB / (ms / 1000);

/** What the envelope's two passes cost in node:crypto alone: AES-256-GCM and SHA-256 over 256 blocks of 1 MiB. */
function nodePrimitives(): { gcmMiBPerSecond: number; sha256MiBPerSecond: number } {
  const block = randomBytes(MIB);
  const key = randomBytes(32);
  const blocks = 256;
  let started = performance.now();
  for (let index = 0; index < blocks; index++) {
    const cipher = createCipheriv('aes-256-gcm', key, randomBytes(12));
    cipher.update(block);
    cipher.final();
  }
  const gcmMiBPerSecond = mibPerSecond(blocks * MIB, performance.now() - started);
  started = performance.now();
  for (let index = 0; index < blocks; index++) createHash('sha256').update(block).digest();
  return { gcmMiBPerSecond, sha256MiBPerSecond: mibPerSecond(blocks * MIB, performance.now() - started) };
}

const percentOf = (mibPerSecondValue: number, openssl: number): string =>
  `${((mibPerSecondValue / openssl) * 100).toFixed(1)}%`;

/** Runs this file in a child process with `args`; the JSON of its last line of output. */
function child<T>(args: string[]): T {
  const output = execFileSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), ...args], {
    encoding: 'utf8',
  });
  return JSON.parse(output.trim().split('\n').pop()!) as T;
}

function printEnvelope(f: Figures, openssl: number): void {
  const encrypt = mibPerSecond(f.sizeBytes, f.encryptMs);
  const decrypt = mibPerSecond(f.sizeBytes, f.decryptMs);
  const envelope = mibPerSecond(f.sizeBytes, f.envelopeOnlyMs);
  console.log(
    `${format(f.sizeBytes / MIB)} MiB: envelope alone ${format(envelope)} MiB/s (${percentOf(envelope, openssl)} of openssl), encrypt store→store ${format(f.encryptMs)} ms (${format(encrypt)} MiB/s, ${percentOf(encrypt, openssl)} of openssl), ` +
      `decrypt ${format(f.decryptMs)} ms (${format(decrypt)} MiB/s), envelope +${format(f.ciphertextBytes - f.sizeBytes)} bytes, peak RSS ${format(f.peakRssMiB)} MiB`,
  );
}

function printPaths(paths: PathFigures[], openssl: number): void {
  const cell = (sizeBytes: number, ms: number): string => {
    const rate = mibPerSecond(sizeBytes, ms);
    return `${format(ms)} ms, ${format(rate)} MiB/s, ${percentOf(rate, openssl)}`;
  };
  const rows = paths.map((f) => [
    `${format(f.sizeBytes / MIB)} MiB`,
    cell(f.sizeBytes, f.uploadMs),
    cell(f.sizeBytes, f.requestDeliveryMs),
    cell(f.ciphertextBytes, f.downloadMs),
    cell(f.sizeBytes, f.decryptMs),
    [f.stepPeakRssMiB.upload, f.stepPeakRssMiB.requestDelivery, f.stepPeakRssMiB.download, f.stepPeakRssMiB.decrypt]
      .map((value) => format(value))
      .join(' / '),
    `${format(f.openedRssMiB)} / ${format(f.openedMaxRssMiB)} / ${format(f.maxRssMiB)}`,
  ]);
  const header = [
    'size',
    'upload (context)',
    'requestDelivery',
    'download via link',
    'decrypt',
    'step peak RSS MiB (up/req/down/dec)',
    'RSS opened / maxRSS opened / maxRSS end, MiB',
  ];
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]): string => cells.map((text, column) => text.padEnd(widths[column]!)).join(' | ');
  console.log(`whole path over HTTP (PGlite, folder stores); each time: ms, MiB/s, % of openssl AES-256-GCM`);
  console.log(line(header));
  console.log(widths.map((width) => '-'.repeat(width)).join('-|-'));
  for (const row of rows) console.log(line(row));
}

/**
 * The folder store's own write limit on this disk: 1 GiB of one repeated
 * block through FolderBlobStore.put (written, then fsync), no encryption.
 * At 1 GiB the delivery steps write and sync as much, so this bounds them.
 */
async function storeWriteMiBPerSecond(sizeBytes = 1024 * MIB): Promise<number> {
  const directory = benchDir('delivery-disk');
  try {
    const block = randomBytes(MIB);
    async function* blocks(): AsyncIterable<Uint8Array> {
      for (let offset = 0; offset < sizeBytes; offset += MIB)
        yield block.subarray(0, Math.min(MIB, sizeBytes - offset));
    }
    const started = performance.now();
    await new FolderBlobStore(directory).put('disk/probe', blocks());
    return mibPerSecond(sizeBytes, performance.now() - started);
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

const argument = process.argv[2];
if (argument === 'path') {
  process.stdout.write(`${JSON.stringify(await deliveryPath(Number(process.argv[3])))}\n`);
} else if (argument !== undefined) {
  process.stdout.write(`${JSON.stringify(await one(Number(argument)))}\n`);
} else {
  const openssl = mibPerSecond(opensslAesGcmBytesPerSecond(), 1000);
  console.log(`openssl speed -evp aes-256-gcm, 1 MiB blocks, one core: ${format(openssl)} MiB/s`);
  const primitives = nodePrimitives();
  console.log(
    `node:crypto, 1 MiB blocks: AES-256-GCM ${format(primitives.gcmMiBPerSecond)} MiB/s, SHA-256 ${format(primitives.sha256MiBPerSecond)} MiB/s`,
  );
  const disk = await storeWriteMiBPerSecond();
  console.log(`folder store, 1 GiB written and synced (no encryption): ${format(disk)} MiB/s`);
  const results: Figures[] = [];
  const paths: PathFigures[] = [];
  for (const sizeBytes of SIZES) {
    const envelope = child<Figures>([String(sizeBytes)]);
    results.push(envelope);
    printEnvelope(envelope, openssl);
    paths.push(child<PathFigures>(['path', String(sizeBytes)]));
  }
  // Measured again after the sizes: the machine is shared, and a change of load shows as a change of this figure.
  const opensslAfter = mibPerSecond(opensslAesGcmBytesPerSecond(), 1000);
  console.log(`openssl speed -evp aes-256-gcm again, after the sizes: ${format(opensslAfter)} MiB/s`);
  printPaths(paths, openssl);
  mkdirSync('bench/results', { recursive: true });
  writeFileSync(
    `bench/results/delivery-${Date.now()}.json`,
    `${JSON.stringify({ opensslMiBPerSecond: openssl, opensslAfterMiBPerSecond: opensslAfter, storeWriteMiBPerSecond: disk, ...primitives, results, paths }, null, 2)}\n`,
  );
}
