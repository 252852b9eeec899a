/**
 * A witness's state in a folder (chain/witness.ts, WitnessState): one JSON
 * file per log, `logs/<SHA-256 of the origin, hex>.json`, holding the last
 * checkpoint it cosigned, and one file per refusal that is evidence,
 * `evidence/<time>-<origin hash>-<size>.json`, holding both signed notes.
 *
 * Updates of one origin run one after the other in this process, and each
 * is written to a temporary file, flushed and renamed over the old one
 * before the answer goes out, so a witness stopped at any point restarts
 * with the last state it answered from. The folder holds a lock file with
 * the owner's pid: a second witness process on the same folder is refused
 * (two could each cosign a branch of a fork).
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { sha256Hex } from '../../../chain/hash.ts';
import type { ForkEvidence, WitnessedCheckpoint, WitnessState } from '../../../chain/witness.ts';

export interface FileWitnessState extends WitnessState {
  /** What is held for an origin now. */
  held(origin: string): WitnessedCheckpoint | undefined;
  /** Releases the folder's lock. */
  close(): void;
}

interface LogFile extends WitnessedCheckpoint {
  origin: string;
  updatedAt: string;
}

function writeDurably(path: string, text: string): void {
  const temporary = `${path}.${process.pid}.tmp`;
  const fd = openSync(temporary, 'w', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, path);
  // The rename itself is durable once the folder is flushed.
  const folder = openSync(dirname(path), 'r');
  try {
    fsyncSync(folder);
  } finally {
    closeSync(folder);
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the folder's lock, or throws when a live process holds it. */
function lock(folder: string): string {
  const path = join(folder, 'witness.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return path;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number(readFileSync(path, 'utf8').trim());
      if (Number.isSafeInteger(owner) && owner > 0 && owner !== process.pid && processAlive(owner))
        throw new Error(`the witness state ${folder} is in use by process ${owner}`, { cause: error });
      // Left by a process that is gone: take it over.
      rmSync(path, { force: true });
    }
  }
  throw new Error(`cannot lock the witness state ${folder}`);
}

export function fileWitnessState(folder: string): FileWitnessState {
  mkdirSync(join(folder, 'logs'), { recursive: true, mode: 0o700 });
  mkdirSync(join(folder, 'evidence'), { recursive: true, mode: 0o700 });
  const lockPath = lock(folder);
  const queues = new Map<string, Promise<unknown>>();
  const pathOf = (origin: string): string => join(folder, 'logs', `${sha256Hex(origin)}.json`);

  const held = (origin: string): WitnessedCheckpoint | undefined => {
    let text: string;
    try {
      text = readFileSync(pathOf(origin), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    const file = JSON.parse(text) as LogFile;
    if (file.origin !== origin)
      throw new Error(`${pathOf(origin)} holds ${JSON.stringify(file.origin)}, not ${origin}`);
    return { size: file.size, root: file.root, note: file.note };
  };

  return {
    held,
    update(origin, step) {
      const run = async (): Promise<Awaited<ReturnType<typeof step>>['result']> => {
        const { next, result } = step(held(origin));
        if (next) {
          const file: LogFile = { origin, ...next, updatedAt: new Date().toISOString() };
          writeDurably(pathOf(origin), `${JSON.stringify(file, null, 2)}\n`);
        }
        return result;
      };
      const previous = queues.get(origin) ?? Promise.resolve();
      const current = previous.then(run, run);
      const settled = current.catch(() => undefined);
      queues.set(origin, settled);
      void settled.then(() => {
        if (queues.get(origin) === settled) queues.delete(origin);
      });
      return current;
    },
    async saveEvidence(evidence: ForkEvidence) {
      const name = `${Date.now()}-${sha256Hex(evidence.origin).slice(0, 16)}-${evidence.refused.size}.json`;
      writeDurably(join(folder, 'evidence', name), `${JSON.stringify(evidence, null, 2)}\n`);
    },
    close() {
      rmSync(lockPath, { force: true });
    },
  };
}
