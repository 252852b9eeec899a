/**
 * An exact set of UUIDs in 16 bytes each (open addressing over typed arrays),
 * so that checking id uniqueness over a hundred million records takes a few
 * gigabytes, not the tens a Set of strings would.
 */
import { assert } from '../domain/errors.ts';

const EMPTY = 0;
const INITIAL_CAPACITY = 1 << 12;
const MAX_LOAD = 0.6;

function words(uuid: string): [number, number, number, number] {
  const hex = uuid.replaceAll('-', '');
  return [
    Number.parseInt(hex.slice(0, 8), 16) >>> 0,
    Number.parseInt(hex.slice(8, 16), 16) >>> 0,
    Number.parseInt(hex.slice(16, 24), 16) >>> 0,
    Number.parseInt(hex.slice(24, 32), 16) >>> 0,
  ];
}

/** The UUID as 32 lowercase hex digits: one key per UUID, whatever the case of its text. */
export function uuidHex(uuid: string): string {
  return hexOf(words(uuid));
}

function hexOf(w: ArrayLike<number>): string {
  let hex = '';
  for (let index = 0; index < 4; index++) hex += w[index]!.toString(16).padStart(8, '0');
  return hex;
}

/** Bytes a slot takes: four 32-bit words and its used flag. */
const SLOT_BYTES = 17;

export class UuidSet {
  #slots = new Uint32Array(INITIAL_CAPACITY * 4);
  /** 1 where a slot is taken: the all-zero UUID is a valid member. */
  #used = new Uint8Array(INITIAL_CAPACITY);
  #size = 0;

  get size(): number {
    return this.#size;
  }

  /** Bytes held by the table. */
  get sizeBytes(): number {
    return this.#used.length * SLOT_BYTES;
  }

  /** Bytes held while the next add grows the table (old and new tables at once), or now if it does not grow. */
  get sizeBytesOnNextAdd(): number {
    return this.#wouldGrow() ? this.sizeBytes * 3 : this.sizeBytes;
  }

  /** The members as uuidHex keys, in no particular order. */
  *hexKeys(): Generator<string> {
    for (let slot = 0; slot < this.#used.length; slot++) {
      if (this.#used[slot] !== EMPTY) yield hexOf(this.#slots.subarray(slot * 4, slot * 4 + 4));
    }
  }

  #wouldGrow(): boolean {
    return (this.#size + 1) / this.#used.length > MAX_LOAD;
  }

  /** Adds a UUID (validated by the caller); false when it was already present. */
  add(uuid: string): boolean {
    if (this.#wouldGrow()) this.#grow();
    const added = this.#insert(words(uuid));
    if (added) this.#size += 1;
    return added;
  }

  #insert(w: ArrayLike<number>): boolean {
    const capacity = this.#used.length;
    // The low words are random in v4 and v7 UUIDs; mix anyway for other versions.
    let slot = Math.imul(w[3]! ^ w[1]!, 0x9e3779b1) >>> 0;
    for (let probe = 0; probe < capacity; probe++) {
      slot = (slot + probe) & (capacity - 1);
      if (this.#used[slot] === EMPTY) {
        this.#used[slot] = 1;
        this.#slots.set(w, slot * 4);
        return true;
      }
      const base = slot * 4;
      if (
        this.#slots[base] === w[0] &&
        this.#slots[base + 1] === w[1] &&
        this.#slots[base + 2] === w[2] &&
        this.#slots[base + 3] === w[3]
      ) {
        return false;
      }
    }
    assert(false, 'UuidSet is full');
  }

  #grow(): void {
    const oldSlots = this.#slots;
    const oldUsed = this.#used;
    this.#slots = new Uint32Array(oldSlots.length * 2);
    this.#used = new Uint8Array(oldUsed.length * 2);
    for (let slot = 0; slot < oldUsed.length; slot++) {
      if (oldUsed[slot] !== EMPTY) this.#insert(oldSlots.subarray(slot * 4, slot * 4 + 4));
    }
  }
}
