/**
 * The Merkle tree of a chain (docs/FORMAT.md section 14): RFC 6962 hashing,
 * tree heads, inclusion and consistency proofs and their verification, as
 * RFC 9162 section 2.1 defines them. Pure: no I/O and no node: import, the
 * SHA-256 function is given, so the same code runs in Node and in a browser.
 *
 * Sizes and indexes are JavaScript numbers up to 2^53 - 1: halving is
 * Math.floor(x / 2), never `>>`, which would cut them to 32 bits.
 */

export type Sha256 = (bytes: Uint8Array) => Uint8Array;

export const HASH_BYTES = 32;

/** Reads the hash of the complete subtree of `2^height` leaves starting at leaf `index * 2^height`. */
export type SubtreeReader = (height: number, index: number) => Promise<Uint8Array>;

export interface MerkleHasher {
  /** SHA-256 of nothing: the root of the empty tree. */
  emptyRoot(): Uint8Array;
  /** SHA-256(0x00 || leaf). */
  leaf(leaf: Uint8Array): Uint8Array;
  /** SHA-256(0x01 || left || right). */
  node(left: Uint8Array, right: Uint8Array): Uint8Array;
}

export function merkleHasher(sha256: Sha256): MerkleHasher {
  return {
    emptyRoot: () => sha256(new Uint8Array(0)),
    leaf(leaf) {
      const bytes = new Uint8Array(1 + leaf.length);
      bytes[0] = 0;
      bytes.set(leaf, 1);
      return sha256(bytes);
    },
    node(left, right) {
      const bytes = new Uint8Array(1 + left.length + right.length);
      bytes[0] = 1;
      bytes.set(left, 1);
      bytes.set(right, 1 + left.length);
      return sha256(bytes);
    },
  };
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a[i]! ^ b[i]!;
  return difference === 0;
}

function isSize(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}

/** The largest power of two strictly below `size` (size >= 2). */
function splitPoint(size: number): number {
  let k = 1;
  while (k * 2 < size) k *= 2;
  return k;
}

/** The least height with 2^height >= size. */
function log2(size: number): number {
  let height = 0;
  while (2 ** height < size) height++;
  return height;
}

function isPowerOfTwo(size: number): boolean {
  return size > 0 && 2 ** log2(size) === size;
}

/** RFC 9162 MTH over `hashes` taken as leaf hashes already: the root of the tree they are the bottom of. */
export function rootOfHashes(hasher: MerkleHasher, hashes: readonly Uint8Array[]): Uint8Array {
  if (hashes.length === 0) return hasher.emptyRoot();
  // Level by level, pairing from the left; an odd last hash moves up alone. For every size this is
  // MTH's split at the largest power of two below n (the left part is complete, so it pairs evenly).
  let level = hashes;
  while (level.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i + 1 < level.length; i += 2) next.push(hasher.node(level[i]!, level[i + 1]!));
    if (level.length % 2 === 1) next.push(level[level.length - 1]!);
    level = next;
  }
  return level[0]!;
}

/**
 * MTH(D[start:end]) read through complete subtrees. `start` is a multiple of
 * the largest power of two not above end - start, as every range of the
 * RFC's recursion is.
 */
async function rangeHash(hasher: MerkleHasher, read: SubtreeReader, start: number, end: number): Promise<Uint8Array> {
  const size = end - start;
  const height = log2(size);
  if (2 ** height === size && start % size === 0) return read(height, start / size);
  const k = splitPoint(size);
  return hasher.node(await rangeHash(hasher, read, start, start + k), await rangeHash(hasher, read, start + k, end));
}

/** The root of the tree of `size` leaves. */
export async function treeRoot(hasher: MerkleHasher, read: SubtreeReader, size: number): Promise<Uint8Array> {
  if (!isSize(size)) throw new RangeError(`tree size ${size} is not a non-negative integer`);
  return size === 0 ? hasher.emptyRoot() : rangeHash(hasher, read, 0, size);
}

/** RFC 9162 section 2.1.3.1: PATH(index, D[0:size]), the deepest hash first. */
export async function inclusionProof(
  hasher: MerkleHasher,
  read: SubtreeReader,
  index: number,
  size: number,
): Promise<Uint8Array[]> {
  if (!isSize(index) || !isSize(size) || index >= size)
    throw new RangeError(`leaf ${index} is not in a tree of ${size} leaves`);
  const path: Uint8Array[] = [];
  let start = 0;
  let end = size;
  // Walk down from the root, remembering the sibling of each step; reversed at the end.
  while (end - start > 1) {
    const k = splitPoint(end - start);
    if (index < start + k) {
      path.push(await rangeHash(hasher, read, start + k, end));
      end = start + k;
    } else {
      path.push(await rangeHash(hasher, read, start, start + k));
      start += k;
    }
  }
  return path.reverse();
}

/** RFC 9162 section 2.1.4.1: PROOF(first, D[0:second]); empty when first is 0 or equals second. */
export async function consistencyProof(
  hasher: MerkleHasher,
  read: SubtreeReader,
  first: number,
  second: number,
): Promise<Uint8Array[]> {
  if (!isSize(first) || !isSize(second) || first > second)
    throw new RangeError(`no consistency proof from size ${first} to size ${second}`);
  if (first === 0 || first === second) return [];
  const proof: Uint8Array[] = [];
  let start = 0;
  let end = second;
  let m = first;
  let wholeSubtree = true;
  // SUBPROOF(m, D[start:end], wholeSubtree) of the RFC, as a loop.
  for (;;) {
    const size = end - start;
    if (m === size) {
      if (!wholeSubtree) proof.push(await rangeHash(hasher, read, start, end));
      break;
    }
    const k = splitPoint(size);
    if (m <= k) {
      proof.push(await rangeHash(hasher, read, start + k, end));
      end = start + k;
    } else {
      proof.push(await rangeHash(hasher, read, start, start + k));
      start += k;
      m -= k;
      wholeSubtree = false;
    }
  }
  // Collected root first; the RFC lists the innermost (leaf-side) hash first.
  return proof.reverse();
}

function isHash(bytes: Uint8Array): boolean {
  return bytes.length === HASH_BYTES;
}

/** RFC 9162 section 2.1.3.2: the root an inclusion proof leads to, or undefined when the proof cannot be right. */
export function rootFromInclusionProof(
  hasher: MerkleHasher,
  index: number,
  size: number,
  leafHash: Uint8Array,
  proof: readonly Uint8Array[],
): Uint8Array | undefined {
  if (!isSize(index) || !isSize(size) || index >= size || !isHash(leafHash)) return undefined;
  if (!proof.every(isHash)) return undefined;
  let fn = index;
  let sn = size - 1;
  let r = leafHash;
  for (const p of proof) {
    if (sn === 0) return undefined;
    if (fn % 2 === 1 || fn === sn) {
      r = hasher.node(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = hasher.node(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 ? r : undefined;
}

export function verifyInclusion(
  hasher: MerkleHasher,
  index: number,
  size: number,
  leafHash: Uint8Array,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  const computed = rootFromInclusionProof(hasher, index, size, leafHash, proof);
  return computed !== undefined && isHash(root) && equalBytes(computed, root);
}

/**
 * RFC 9162 section 2.1.4.2. A proof from the empty tree proves nothing and is
 * refused, as is any proof between equal sizes but the empty one with equal roots.
 */
export function verifyConsistency(
  hasher: MerkleHasher,
  first: number,
  second: number,
  proof: readonly Uint8Array[],
  firstRoot: Uint8Array,
  secondRoot: Uint8Array,
): boolean {
  if (!isSize(first) || !isSize(second) || first > second || first === 0) return false;
  if (!isHash(firstRoot) || !isHash(secondRoot) || !proof.every(isHash)) return false;
  if (first === second) return proof.length === 0 && equalBytes(firstRoot, secondRoot);
  if (proof.length === 0) return false;
  const path = isPowerOfTwo(first) ? [firstRoot, ...proof] : [...proof];
  let fn = first - 1;
  let sn = second - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr = path[0]!;
  let sr = path[0]!;
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = hasher.node(c, fr);
      sr = hasher.node(c, sr);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      sr = hasher.node(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && equalBytes(fr, firstRoot) && equalBytes(sr, secondRoot);
}
