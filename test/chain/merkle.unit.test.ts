/**
 * chain/merkle.ts and chain/tiles.ts: the transparency-dev test vectors
 * (test/outsideVectors/README.md), and properties against a tree computed
 * the plain way from its leaves.
 */
import test from 'ava';
import fc from 'fast-check';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sha256 } from '../../chain/hash.ts';
import { leafOf, treeHasher } from '../../chain/treeCommit.ts';
import {
  consistencyProof,
  inclusionProof,
  merkleHasher,
  rootOfHashes,
  treeRoot,
  verifyConsistency,
  verifyInclusion,
  type SubtreeReader,
} from '../../chain/merkle.ts';
import {
  appendLeaves,
  edgeRoot,
  emptyEdge,
  encodeTileIndex,
  parseTilePath,
  readEdge,
  tilePath,
  tileSubtreeReader,
  TILE_WIDTH,
  type TileWrite,
} from '../../chain/tiles.ts';

const hasher = merkleHasher(sha256);
const VECTORS = fileURLToPath(new URL('../outsideVectors/transparency-dev-merkle/', import.meta.url));

function jsonFiles(directory: string): string[] {
  return readdirSync(directory).flatMap((name) => {
    const path = join(directory, name);
    return statSync(path).isDirectory() ? jsonFiles(path) : name.endsWith('.json') ? [path] : [];
  });
}

const b64 = (text: string): Uint8Array => Buffer.from(text, 'base64');

interface InclusionVector {
  leafIdx: number;
  treeSize: number;
  root: string;
  leafHash: string;
  proof: string[] | null;
  desc: string;
  wantErr: boolean;
}

interface ConsistencyVector {
  size1: number;
  size2: number;
  root1: string;
  root2: string;
  proof: string[] | null;
  desc: string;
  wantErr: boolean;
}

test('every transparency-dev inclusion vector gets its verdict', (t) => {
  const files = jsonFiles(join(VECTORS, 'inclusion'));
  t.true(files.length > 90);
  for (const file of files) {
    const v = JSON.parse(readFileSync(file, 'utf8')) as InclusionVector;
    const ok = verifyInclusion(hasher, v.leafIdx, v.treeSize, b64(v.leafHash), (v.proof ?? []).map(b64), b64(v.root));
    t.is(ok, !v.wantErr, file);
  }
});

test('every transparency-dev consistency vector gets its verdict', (t) => {
  const files = jsonFiles(join(VECTORS, 'consistency'));
  t.true(files.length > 90);
  for (const file of files) {
    const v = JSON.parse(readFileSync(file, 'utf8')) as ConsistencyVector;
    const ok = verifyConsistency(hasher, v.size1, v.size2, (v.proof ?? []).map(b64), b64(v.root1), b64(v.root2));
    // One vector accepts equal sizes with equal 12-byte "roots"; docs/FORMAT.md section 14 takes only 32-byte hashes.
    const ours = v.desc === 'sizes are equal (one) and proof is empty' ? false : !v.wantErr;
    t.is(ok, ours, file);
  }
});

test('the proofs we make for the vectors tree are the vectors proofs', async (t) => {
  // The happy paths were made from the tree of testonly.LeafInputs (8 leaves): our proofs from the same leaf hashes must equal them.
  const leaves = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'];
  const leafHashes = leaves.map((hex) => hasher.leaf(Buffer.from(hex, 'hex')));
  const read = plainReader(leafHashes);
  let checked = 0;
  for (const file of jsonFiles(join(VECTORS, 'inclusion')).filter((f) => f.endsWith('happy-path.json'))) {
    const v = JSON.parse(readFileSync(file, 'utf8')) as InclusionVector;
    const proof = await inclusionProof(hasher, read, v.leafIdx, v.treeSize);
    t.deepEqual(
      proof.map((h) => Buffer.from(h).toString('base64')),
      v.proof ?? [],
      file,
    );
    t.is(Buffer.from(await treeRoot(hasher, read, v.treeSize)).toString('base64'), v.root);
    checked++;
  }
  for (const file of jsonFiles(join(VECTORS, 'consistency')).filter((f) => f.endsWith('happy-path.json'))) {
    const v = JSON.parse(readFileSync(file, 'utf8')) as ConsistencyVector;
    if (v.size1 === 0) continue;
    const proof = await consistencyProof(hasher, read, v.size1, v.size2);
    t.deepEqual(
      proof.map((h) => Buffer.from(h).toString('base64')),
      v.proof ?? [],
      file,
    );
    checked++;
  }
  t.true(checked >= 8);
});

/** Subtree hashes computed straight from the leaf hashes, as RFC 9162 defines MTH. */
function plainReader(leafHashes: readonly Uint8Array[]): SubtreeReader {
  return (height, index) => {
    const count = 2 ** height;
    const slice = leafHashes.slice(index * count, (index + 1) * count);
    if (slice.length !== count) return Promise.reject(new RangeError('no such subtree'));
    return Promise.resolve(rootOfHashes(hasher, slice));
  };
}

test('rootOfHashes, level by level, is MTH split at the largest power of two, for every size to 600', async (t) => {
  const leafHashes = leafHashesOf(600, 1);
  for (let size = 0; size <= 600; size++) {
    const plain = await treeRoot(hasher, plainReader(leafHashes), size);
    t.is(
      Buffer.from(rootOfHashes(hasher, leafHashes.slice(0, size))).toString('hex'),
      Buffer.from(plain).toString('hex'),
    );
  }
});

test("the writer's node:crypto hasher gives the pure hasher's hashes", (t) => {
  const left = sha256(Buffer.from('left'));
  const right = sha256(Buffer.from('right'));
  t.deepEqual(Buffer.from(treeHasher.leaf(left)), Buffer.from(hasher.leaf(left)));
  t.deepEqual(Buffer.from(treeHasher.node(left, right)), Buffer.from(hasher.node(left, right)));
  t.deepEqual(Buffer.from(treeHasher.emptyRoot()), Buffer.from(hasher.emptyRoot()));
  const recordHash = left.toString('hex');
  t.deepEqual(Buffer.from(leafOf(recordHash)), Buffer.from(hasher.leaf(left)));
  t.throws(() => leafOf('00'));
});

function leafHashesOf(count: number, seed: number): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => hasher.leaf(Buffer.from(`record ${seed} ${i}`)));
}

function flip(hash: Uint8Array, bit: number): Uint8Array {
  const changed = Uint8Array.from(hash);
  changed[Math.floor(bit / 8) % 32]! ^= 1 << (bit % 8);
  return changed;
}

test('every inclusion proof between random sizes verifies, and a changed hash, index or size fails', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 700 }),
      fc.nat(),
      fc.nat(),
      fc.nat({ max: 255 }),
      async (size, indexSeed, which, bit) => {
        // One leaf more than the tree holds: the trees one leaf smaller and one larger are at hand.
        const leafHashes = leafHashesOf(size + 1, size);
        const read = plainReader(leafHashes);
        const index = indexSeed % size;
        const root = await treeRoot(hasher, read, size);
        const proof = await inclusionProof(hasher, read, index, size);
        const leaf = leafHashes[index]!;
        if (!verifyInclusion(hasher, index, size, leaf, proof, root)) return false;
        if (verifyInclusion(hasher, index, size, flip(leaf, bit), proof, root)) return false;
        if (verifyInclusion(hasher, index, size, leaf, proof, flip(root, bit))) return false;
        if (proof.length > 0) {
          const changed = [...proof];
          const at = which % proof.length;
          changed[at] = flip(changed[at]!, bit);
          if (verifyInclusion(hasher, index, size, leaf, changed, root)) return false;
        }
        // A size changes with its root (a checkpoint signs both): the proof holds for its own size only.
        if (verifyInclusion(hasher, index, size + 1, leaf, proof, await treeRoot(hasher, read, size + 1))) return false;
        if (
          index < size - 1 &&
          verifyInclusion(hasher, index, size - 1, leaf, proof, await treeRoot(hasher, read, size - 1))
        )
          return false;
        if (size > 1 && verifyInclusion(hasher, (index + 1) % size, size, leaf, proof, root)) return false;
        return true;
      },
    ),
    { numRuns: 300 },
  );
  t.pass();
});

test('every consistency proof between random sizes verifies, and a changed hash or size fails', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 700 }),
      fc.nat(),
      fc.nat(),
      fc.nat({ max: 255 }),
      async (second, firstSeed, which, bit) => {
        const first = (firstSeed % second) + 1;
        const read = plainReader(leafHashesOf(second + 1, second));
        const rootOf = (size: number): Promise<Uint8Array> => treeRoot(hasher, read, size);
        const firstRoot = await treeRoot(hasher, read, first);
        const secondRoot = await treeRoot(hasher, read, second);
        const proof = await consistencyProof(hasher, read, first, second);
        if (!verifyConsistency(hasher, first, second, proof, firstRoot, secondRoot)) return false;
        if (verifyConsistency(hasher, first, second, proof, flip(firstRoot, bit), secondRoot)) return false;
        if (verifyConsistency(hasher, first, second, proof, firstRoot, flip(secondRoot, bit))) return false;
        if (proof.length > 0) {
          const changed = [...proof];
          const at = which % proof.length;
          changed[at] = flip(changed[at]!, bit);
          if (verifyConsistency(hasher, first, second, changed, firstRoot, secondRoot)) return false;
        }
        // A size changes with its root (a checkpoint signs both).
        if (verifyConsistency(hasher, first, second + 1, proof, firstRoot, await rootOf(second + 1))) return false;
        if (first < second && verifyConsistency(hasher, first + 1, second, proof, await rootOf(first + 1), secondRoot))
          return false;
        if (first > 1 && verifyConsistency(hasher, first - 1, second, proof, await rootOf(first - 1), secondRoot))
          return false;
        return true;
      },
    ),
    { numRuns: 300 },
  );
  t.pass();
});

/** Stored tiles as the database keeps them: a tile written again only grows (migration 0011's trigger). */
function applyWrites(tiles: Map<string, Uint8Array[]>, writes: readonly TileWrite[]): void {
  for (const write of writes) {
    const key = `${write.level}/${write.index}`;
    const tile = tiles.get(key) ?? [];
    if (!tile.every((hash, i) => Buffer.from(hash).equals(write.hashes[i]!)))
      throw new Error(`tile ${key} would change what it held`);
    tiles.set(key, write.hashes);
  }
}

test('tiles grown batch by batch hold the recomputed hashes, and their root and proofs are the plain ones', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 12 }),
      fc.nat(),
      async (batches, probe) => {
        const total = batches.reduce((a, b) => a + b, 0);
        const leafHashes = leafHashesOf(total, total);
        const tiles = new Map<string, Uint8Array[]>();
        let edge = emptyEdge();
        let done = 0;
        for (const count of batches) {
          const next = appendLeaves(hasher, edge, leafHashes.slice(done, done + count));
          applyWrites(tiles, next.writes);
          edge = next.edge;
          done += count;
        }
        const read = plainReader(leafHashes);
        // Level 0 holds the leaf hashes; level 1 the roots of the full level-0 tiles.
        const level0 = [...Array(Math.ceil(total / TILE_WIDTH)).keys()].flatMap((i) => tiles.get(`0/${i}`) ?? []);
        if (!level0.every((hash, i) => Buffer.from(hash).equals(leafHashes[i]!))) return false;
        for (let i = 0; i < Math.floor(total / TILE_WIDTH); i++) {
          const expected = await read(8, i);
          if (!Buffer.from(tiles.get('1/0')![i]!).equals(expected)) return false;
        }
        const root = await treeRoot(hasher, read, total);
        if (!Buffer.from(edgeRoot(hasher, edge)).equals(root)) return false;
        const tileReader = (level: number, index: number): Promise<Uint8Array[]> =>
          Promise.resolve(tiles.get(`${level}/${index}`) ?? []);
        const fromTiles = await readEdge(tileReader, total);
        if (!Buffer.from(edgeRoot(hasher, fromTiles)).equals(root)) return false;
        const viaTiles = tileSubtreeReader(hasher, tileReader);
        const index = probe % total;
        const proof = await inclusionProof(hasher, viaTiles, index, total);
        return Buffer.concat(proof).equals(Buffer.concat(await inclusionProof(hasher, read, index, total)));
      },
    ),
    { numRuns: 60 },
  );
  t.pass();
});

test('tile paths are written and read as tlog-tiles names them, and nothing else parses', (t) => {
  t.is(encodeTileIndex(0), '000');
  t.is(encodeTileIndex(1234067), 'x001/x234/067');
  t.is(tilePath(0, 1234067, 256), 'tile/0/x001/x234/067');
  t.is(tilePath(1, 5, 17), 'tile/1/005.p/17');
  t.deepEqual(parseTilePath('tile/1/005.p/17'), { level: 1, index: 5, width: 17 });
  t.deepEqual(parseTilePath('tile/0/x001/x234/067'), { level: 0, index: 1234067, width: 256 });
  for (const bad of [
    'tile/0/5',
    'tile/0/005.p/0',
    'tile/0/005.p/256',
    'tile/0/005.p/017',
    'tile/0/x000/005',
    'tile/7/000',
    'tile/0/x999/x999/x999/x999/x999/x999/999',
    'tile/0/../000',
    'tile/entries/000',
    'tile/-1/000',
  ])
    t.is(parseTilePath(bad), undefined, bad);
});
