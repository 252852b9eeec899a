/**
 * The verifier's spill area (verifier/spill.ts) as files in a temporary
 * folder, made at the first run written and removed by close(). The runs are
 * the verifier's own bookkeeping: nobody else reads them.
 */
import { createReadStream, createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import type { SpillArea, SpillRun } from '../../../verifier/spill.ts';

/** Characters gathered before one write call. */
const WRITE_CHUNK_CHARS = 1 << 20;
const READ_BUFFER_BYTES = 1 << 16;

async function writeLines(path: string, lines: Iterable<string> | AsyncIterable<string>): Promise<void> {
  const out = createWriteStream(path);
  const failed = once(out, 'error').then(([error]) => {
    throw error;
  });
  failed.catch(() => undefined);
  let chunk: string[] = [];
  let chars = 0;
  const drain = async (): Promise<void> => {
    const text = chunk.join('');
    chunk = [];
    chars = 0;
    if (!out.write(text)) await Promise.race([once(out, 'drain'), failed]);
  };
  for await (const line of lines) {
    chunk.push(line, '\n');
    chars += line.length + 1;
    if (chars >= WRITE_CHUNK_CHARS) await drain();
  }
  await drain();
  out.end();
  await Promise.race([once(out, 'finish'), failed]);
}

export function spillFolder(parent: string = tmpdir()): SpillArea {
  let folder: string | undefined;
  let next = 0;
  return {
    async write(lines) {
      folder ??= mkdtempSync(join(parent, 'chainbook-verify-'));
      const path = join(folder, `run-${next++}`);
      await writeLines(path, lines);
      const run: SpillRun = {
        lines: () =>
          createInterface({ input: createReadStream(path, { highWaterMark: READ_BUFFER_BYTES }), crlfDelay: Infinity }),
        remove: () => rm(path, { force: true }),
      };
      return run;
    },
    async close() {
      if (folder !== undefined) rmSync(folder, { recursive: true, force: true });
      folder = undefined;
    },
  };
}
