/**
 * The chain's Merkle tree stored as tiles (docs/FORMAT.md section 14): a
 * tile at level L holds up to 256 consecutive hashes of complete subtrees of
 * 256^L leaves (level 0: the leaf hashes), and a full tile's root is one hash
 * of the level above. Only the right edge ever changes, and only by growing:
 * a partial tile of width W is a prefix of every later version of it. Pure,
 * like chain/merkle.ts: no I/O, no node: import.
 */
import type { MerkleHasher, SubtreeReader } from './merkle.ts';
import { rootOfHashes } from './merkle.ts';

export const TILE_HEIGHT = 8;
export const TILE_WIDTH = 256;
/** Levels needed for 2^53 leaves: 256^7 = 2^56. */
export const MAX_TILE_LEVEL = 6;

/** The right edge of a tree: for each level, the hashes of its last, partial tile (full tiles move up). */
export interface TreeEdge {
  size: number;
  /** partial[L]: the hashes of the last tile of level L, fewer than TILE_WIDTH. */
  partial: Uint8Array[][];
}

/** A tile as it is after a batch: every hash it holds, the ones it held before first. */
export interface TileWrite {
  level: number;
  index: number;
  hashes: Uint8Array[];
}

export function emptyEdge(): TreeEdge {
  return { size: 0, partial: [[]] };
}

/** Hashes at level L of a tree of `size` leaves: one per complete subtree of 256^L leaves. */
export function levelWidth(size: number, level: number): number {
  return Math.floor(size / TILE_WIDTH ** level);
}

/**
 * Appends leaf hashes to the tree: the new edge (the one given is left as it
 * was) and each tile that changed, whole (a tile is at most 8 KiB, and a
 * whole tile lets the database check that it only grew).
 */
export function appendLeaves(
  hasher: MerkleHasher,
  edge: TreeEdge,
  leafHashes: readonly Uint8Array[],
): { edge: TreeEdge; writes: TileWrite[] } {
  // Copies of the edge's tiles, grown in place: a tile that fills is handed to its write as it is, and the
  // partial tiles left are the new edge's and their writes' both (neither is changed after).
  const partial = edge.partial.map((hashes) => hashes.slice());
  const writes: TileWrite[] = [];
  // The write of each level's current tile: leaves come in order, so a level's tiles are written one after another.
  const current: (TileWrite | undefined)[] = [];
  let size = edge.size;
  const push = (level: number, hash: Uint8Array): void => {
    const tile = (partial[level] ??= []);
    const index = Math.floor(levelWidth(size, level) / TILE_WIDTH);
    if (current[level]?.index !== index) {
      const write = { level, index, hashes: tile };
      current[level] = write;
      writes.push(write);
    }
    tile.push(hash);
  };
  for (const leafHash of leafHashes) {
    // Each full tile's root climbs one level, before the size moves past it.
    push(0, leafHash);
    let level = 0;
    while (partial[level]!.length === TILE_WIDTH) {
      const root = rootOfHashes(hasher, partial[level]!);
      partial[level] = [];
      push(level + 1, root);
      level++;
    }
    size++;
  }
  return { edge: { size, partial }, writes };
}

/** The root of the tree an edge ends: every complete subtree of the edge, folded from the right. */
export function edgeRoot(hasher: MerkleHasher, edge: TreeEdge): Uint8Array {
  const subtrees: Uint8Array[] = [];
  for (let level = edge.partial.length - 1; level >= 0; level--) {
    const hashes = edge.partial[level]!;
    // The tile's entries split into complete subtrees by the binary digits of its width, largest first.
    let offset = 0;
    for (let bit = TILE_HEIGHT - 1; bit >= 0; bit--) {
      const count = 2 ** bit;
      if (hashes.length - offset >= count) {
        subtrees.push(rootOfHashes(hasher, hashes.slice(offset, offset + count)));
        offset += count;
      }
    }
  }
  if (subtrees.length === 0) return hasher.emptyRoot();
  let root = subtrees[subtrees.length - 1]!;
  for (let i = subtrees.length - 2; i >= 0; i--) root = hasher.node(subtrees[i]!, root);
  return root;
}

/** Reads a tile's hashes; a partial tile may be longer than asked for (tiles only grow). */
export type TileReader = (level: number, index: number, width: number) => Promise<Uint8Array[]>;

/** Which tiles hold the edge of a tree of `size` leaves, and how wide each is. */
export function edgeTiles(size: number): { level: number; index: number; width: number }[] {
  const tiles: { level: number; index: number; width: number }[] = [];
  for (let level = 0; level === 0 || levelWidth(size, level) > 0; level++) {
    const count = levelWidth(size, level);
    tiles.push({ level, index: Math.floor(count / TILE_WIDTH), width: count % TILE_WIDTH });
  }
  return tiles;
}

/** The edge of the tree of `size` leaves read from its tiles. */
export async function readEdge(read: TileReader, size: number): Promise<TreeEdge> {
  const partial: Uint8Array[][] = [];
  for (const { level, index, width } of edgeTiles(size)) {
    partial[level] = width === 0 ? [] : (await read(level, index, width)).slice(0, width);
  }
  return { size, partial };
}

/**
 * A SubtreeReader (chain/merkle.ts) over tiles: the subtree of 2^height
 * leaves is a run of 2^(height mod 8) hashes of level floor(height / 8).
 */
export function tileSubtreeReader(hasher: MerkleHasher, read: TileReader): SubtreeReader {
  const cache = new Map<string, Promise<Uint8Array[]>>();
  return async (height, index) => {
    const level = Math.floor(height / TILE_HEIGHT);
    const count = 2 ** (height % TILE_HEIGHT);
    const first = index * count;
    const tileIndex = Math.floor(first / TILE_WIDTH);
    const offset = first % TILE_WIDTH;
    const key = `${level}/${tileIndex}`;
    let tile = cache.get(key);
    if (!tile) cache.set(key, (tile = read(level, tileIndex, offset + count)));
    const hashes = (await tile).slice(offset, offset + count);
    if (hashes.length !== count) throw new RangeError(`tile ${key} holds fewer than ${offset + count} hashes`);
    return rootOfHashes(hasher, hashes);
  };
}

// ---- paths (docs/FORMAT.md section 14, "Tiles")

/** N as tlog-tiles writes it: groups of three digits, all but the last prefixed with x (1234067 → x001/x234/067). */
export function encodeTileIndex(index: number): string {
  const digits = String(index);
  const padded = digits.padStart(Math.ceil(digits.length / 3) * 3, '0');
  const groups = padded.match(/.{3}/g)!;
  return groups.map((group, i) => (i < groups.length - 1 ? `x${group}` : group)).join('/');
}

export function tilePath(level: number, index: number, width: number): string {
  return `tile/${level}/${encodeTileIndex(index)}${width < TILE_WIDTH ? `.p/${width}` : ''}`;
}

const TILE_PATH = /^tile\/([0-9])\/((?:x[0-9]{3}\/){0,5}[0-9]{3})(?:\.p\/([0-9]{1,3}))?$/;

/** Parses `tile/<L>/<N>[.p/<W>]`; undefined when the path is not one (the only form: no leading zeros beyond the groups, W 1 to 255). */
export function parseTilePath(path: string): { level: number; index: number; width: number } | undefined {
  const match = TILE_PATH.exec(path);
  if (!match) return undefined;
  const level = Number(match[1]);
  const index = Number(match[2]!.replaceAll('x', '').replaceAll('/', ''));
  const width = match[3] === undefined ? TILE_WIDTH : Number(match[3]);
  if (level > MAX_TILE_LEVEL || !Number.isSafeInteger(index)) return undefined;
  if (width < 1 || width >= TILE_WIDTH + (match[3] === undefined ? 1 : 0)) return undefined;
  // Canonical only: the path the writer would give this tile.
  if (tilePath(level, index, width) !== path) return undefined;
  return { level, index, width };
}
