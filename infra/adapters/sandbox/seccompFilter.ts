/**
 * The compiled seccomp filter of the preview sandbox (seccompFilter.c beside this file, built against
 * libseccomp): compiled once with the system's C compiler into a cache folder, keyed by the SHA-256 of
 * the source so that a changed list is compiled again, run once to write the BPF program, and handed to
 * bubblewrap as a file (`--seccomp FD`). The C compiler and libseccomp's headers are needed where the
 * service first runs a preview (Debian: gcc, libseccomp-dev; README, "Preview sandbox").
 *
 * The cache folder must be the service's own and writable by no one else (workspace.ts; refused
 * otherwise), and a cached filter is used only when it is a regular file of the service's, writable by
 * no one else: anything else there is built over, never loaded into a run.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CodedError } from '../../../domain/errors.ts';
import { ownFolder } from './workspace.ts';

const run = promisify(execFile);
const SOURCE_URL = new URL('./seccompFilter.c', import.meta.url);
const COMPILE_TIMEOUT_MS = 60_000;

const CACHE_MODE = 0o700;

/** A filter the service wrote itself and no one else could have changed since. */
async function trusted(path: string): Promise<boolean> {
  const status = await lstat(path).catch(() => undefined);
  return (
    status !== undefined &&
    status.isFile() &&
    status.uid === (process.getuid?.() ?? status.uid) &&
    (status.mode & 0o022) === 0
  );
}

/** The path of the BPF program for this source, compiled into `cacheFolder` when it is not there yet. */
export async function seccompFilterPath(cacheFolder: string): Promise<string> {
  const source = await readFile(SOURCE_URL);
  const key = createHash('sha256').update(source).digest('hex').slice(0, 16);
  const filterPath = join(cacheFolder, `preview-seccomp-${key}.bpf`);
  await ownFolder(cacheFolder, CACHE_MODE);
  if (await trusted(filterPath)) return filterPath;
  const programPath = join(cacheFolder, `preview-seccomp-${key}-${process.pid}`);
  try {
    await run('cc', ['-O2', '-o', programPath, SOURCE_URL.pathname, '-lseccomp'], { timeout: COMPILE_TIMEOUT_MS });
    const { stdout } = await run(programPath, [], { encoding: 'buffer', timeout: COMPILE_TIMEOUT_MS });
    // Written under another name, then renamed: a concurrent first run never reads half a filter.
    await writeFile(`${filterPath}.${process.pid}`, stdout, { mode: 0o644 });
    await rename(`${filterPath}.${process.pid}`, filterPath);
    await rm(programPath, { force: true });
  } catch (error) {
    throw new CodedError('PREVIEW_SANDBOX_UNAVAILABLE', 'the preview seccomp filter could not be built', {
      reason: error instanceof Error ? error.message.slice(0, 300) : String(error),
    });
  }
  return filterPath;
}
