/**
 * A witness's state in a folder (chain/witness.ts, WitnessState): one JSON
 * file per log, `logs/<SHA-256 of the origin, hex>.json`, holding the last
 * checkpoint it cosigned, and one file per fork shown (a checkpoint of the
 * size cosigned with another root), `evidence/<origin hash>-<size>-<refused
 * root, hex>.json`, holding both signed notes: written once (opened with
 * O_EXCL), at most MAX_EVIDENCE_FILES of them.
 *
 * Updates of one origin run one after the other in this process, and each
 * is written to a temporary file, flushed and renamed over the old one
 * before the answer goes out, so a witness stopped at any point restarts
 * with the last state it answered from. The folder holds a lock file with
 * the owner's pid: a second witness process of this host on the same folder
 * is refused (two could each cosign a branch of a fork). Pids mean nothing
 * across hosts or containers: the folder must not be shared between them.
 */
import { randomUUID } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
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

/** Evidence files kept at most: beyond, a fork shown again is not written (the first ones prove it). */
export const MAX_EVIDENCE_FILES = 1000;

/** Writes a new file durably; nothing when one of that name exists (the same evidence, kept already). */
function writeOnce(path: string, text: string): void {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return;
    throw error;
  }
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  const parent = openSync(dirname(path), 'r');
  try {
    fsyncSync(parent);
  } finally {
    closeSync(parent);
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

const PID_TEXT = /^[1-9][0-9]{0,9}\n$/;

/** Removes a lock left by a process that is gone, if it still holds `text`: one process at a time breaks it. */
function breakStaleLock(path: string, text: string, temporary: string): void {
  const breaker = `${path}.break`;
  try {
    linkSync(temporary, breaker);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    throw new Error(`another process is taking over ${path} (remove ${breaker} if none is)`, { cause: error });
  }
  try {
    let now: string | undefined;
    try {
      now = readFileSync(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    if (now === text) rmSync(path, { force: true });
  } finally {
    rmSync(breaker, { force: true });
  }
}

/**
 * Takes the folder's lock, or throws when another process holds it. The lock
 * file appears whole or not at all (a temporary file with the pid, linked
 * into place: link fails when the name exists); one whose content is not a
 * pid is never taken over. Pids are those of this host's process namespace:
 * the folder must not be shared across hosts or containers.
 */
function lock(folder: string): string {
  const path = join(folder, 'witness.lock');
  const temporary = `${path}.${process.pid}.${randomUUID()}.tmp`;
  writeFileSync(temporary, `${process.pid}\n`, { mode: 0o600, flag: 'wx' });
  try {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        linkSync(temporary, path);
        return path;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      let text: string;
      try {
        text = readFileSync(path, 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw error;
      }
      if (!PID_TEXT.test(text))
        throw new Error(
          `${path} holds ${JSON.stringify(text.slice(0, 40))}, not a pid: remove it once no witness uses ${folder}`,
        );
      const owner = Number(text);
      if (owner === process.pid || processAlive(owner))
        throw new Error(`the witness state ${folder} is in use by process ${owner}`);
      breakStaleLock(path, text, temporary);
    }
    throw new Error(`cannot lock the witness state ${folder}`);
  } finally {
    rmSync(temporary, { force: true });
  }
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
      const evidenceFolder = join(folder, 'evidence');
      // Only a log's own signatures make evidence, but a log that forks may show its fork on every request.
      if (readdirSync(evidenceFolder).length >= MAX_EVIDENCE_FILES) return;
      const root = Buffer.from(evidence.refused.root, 'base64').toString('hex');
      const name = `${sha256Hex(evidence.origin).slice(0, 16)}-${evidence.refused.size}-${root}.json`;
      const file = { ...evidence, keptAt: new Date().toISOString() };
      writeOnce(join(evidenceFolder, name), `${JSON.stringify(file, null, 2)}\n`);
    },
    close() {
      // Only its own lock: a lock broken and taken by another process stays.
      let owner: string | undefined;
      try {
        owner = readFileSync(lockPath, 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
      if (owner === `${process.pid}\n`) rmSync(lockPath, { force: true });
    },
  };
}
