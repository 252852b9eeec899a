/**
 * Where preview runs unpack their artifacts: one root folder that others may cross but not list (0711),
 * so that bubblewrap, started as the run's own uid, can bind the run's folder, and in it one fresh
 * folder per run, owned by the run's uid and removed when the run is over.
 */
import { chmod, chown, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';

const ROOT_MODE = 0o711;
const RUN_MODE = 0o700;

export async function prepareWorkspaceRoot(root: string): Promise<void> {
  await mkdir(root, { recursive: true, mode: ROOT_MODE });
  await chmod(root, ROOT_MODE);
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
