/**
 * Where preview runs unpack their artifacts: one root folder that others may cross but not list (0711),
 * so that bubblewrap, started as the run's own uid, can bind the run's folder, and in it one fresh
 * folder per run, owned by the run's uid and removed when the run is over.
 *
 * The service (root, as a rule) adopts nothing it did not make its own: the root must be a real folder
 * (not a link), owned by the service's uid and writable by nobody else, or the pool does not open
 * (PREVIEW_SANDBOX_UNAVAILABLE). Within a root so checked, no one else can plant a link or a file, so
 * mkdtemp's fresh folders and the filter's cache (seccompFilter.ts) are the service's own.
 */
import type { Stats } from 'node:fs';
import { chmod, chown, lstat, mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CodedError } from '../../../domain/errors.ts';

const ROOT_MODE = 0o711;
const RUN_MODE = 0o700;
/** Group and others may write. */
const WRITABLE_BY_OTHERS = 0o022;

/** Why `status` is not a folder the service may trust, or undefined when it is. */
function distrust(status: Stats): string | undefined {
  if (!status.isDirectory()) return 'is not a folder (a link or another file)';
  if (status.uid !== (process.getuid?.() ?? status.uid)) return `is owned by uid ${status.uid}, not the service's`;
  if ((status.mode & WRITABLE_BY_OTHERS) !== 0) return 'may be written by others than the service';
  return undefined;
}

/** Makes `folder` with `mode` unless it is there, then refuses it unless it is the service's own (lstat). */
export async function ownFolder(folder: string, mode: number): Promise<void> {
  await mkdir(folder, { mode }).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  });
  const problem = distrust(await lstat(folder));
  if (problem !== undefined) {
    throw new CodedError('PREVIEW_SANDBOX_UNAVAILABLE', `the preview workspace ${folder} ${problem}`, { folder });
  }
}

export async function prepareWorkspaceRoot(root: string): Promise<void> {
  await mkdir(dirname(root), { recursive: true, mode: ROOT_MODE });
  await ownFolder(root, ROOT_MODE);
  await chmod(root, ROOT_MODE);
}

/**
 * The runs' uids (bubblewrap is started as them) must cross every folder above the root to bind their
 * own: the service's own parent folder is made crossable, any other that is not is refused at open,
 * naming the folder, rather than failing each run. `stat` follows links, as the
 * path lookup does.
 */
export async function checkCrossableByOthers(root: string): Promise<void> {
  // The folder holding the workspace (the data folder, by default), when it is the service's own, gets
  // search permission for others: crossing it, not listing it (the data folder's own files keep their modes).
  const parent = await stat(dirname(root));
  if (parent.uid === process.getuid?.() && (parent.mode & 0o001) === 0) {
    await chmod(dirname(root), (parent.mode & 0o7777) | 0o001);
  }
  for (let folder = dirname(root); ; folder = dirname(folder)) {
    if (((await stat(folder)).mode & 0o001) === 0) {
      throw new CodedError(
        'PREVIEW_SANDBOX_UNAVAILABLE',
        `the preview runs' uids cannot cross ${folder} to their workspace: make it 0711 (or 0755), or configure another workspace`,
        { folder },
      );
    }
    if (dirname(folder) === folder) return;
  }
}

/** A fresh, empty folder for one run, owned by `uid` when one is given. */
export async function freshRunFolder(root: string, uid: number | undefined): Promise<string> {
  const folder = await mkdtemp(join(root, 'run-'));
  await chmod(folder, RUN_MODE);
  if (uid !== undefined) await chown(folder, uid, uid);
  return folder;
}

export async function removeRunFolder(folder: string): Promise<void> {
  await rm(folder, { recursive: true, force: true, maxRetries: 3 });
}
