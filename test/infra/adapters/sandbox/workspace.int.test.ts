/**
 * The preview workspace (infra/adapters/sandbox/workspace.ts) and the seccomp filter's cache
 * (seccompFilter.ts): a root the service did not make its own is refused, whatever was planted there,
 * and a filter file anyone else could have written is never loaded.
 */
import { chown, lstat, mkdir, mkdtemp, readFile, rm, symlink, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import test from 'ava';
import { CodedError } from '../../../../domain/errors.ts';
import { seccompFilterPath } from '../../../../infra/adapters/sandbox/seccompFilter.ts';
import { checkCrossableByOthers, prepareWorkspaceRoot } from '../../../../infra/adapters/sandbox/workspace.ts';

const IS_ROOT = process.getuid?.() === 0;
const OTHER_UID = 65534;

async function scratch(t: { teardown: (fn: () => Promise<void>) => void }): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), 'preview-workspace-'));
  t.teardown(() => rm(folder, { recursive: true, force: true }));
  return folder;
}

function unavailable(t: { true: (value: boolean, message?: string) => void }, error: unknown): void {
  t.true(error instanceof CodedError && error.code === 'PREVIEW_SANDBOX_UNAVAILABLE', String(error));
}

test('a fresh workspace root is made the service’s own, 0711', async (t) => {
  const root = join(await scratch(t), 'previews');
  await prepareWorkspaceRoot(root);
  const status = await lstat(root);
  t.true(status.isDirectory());
  t.is(status.mode & 0o777, 0o711);
  t.is(status.uid, process.getuid?.() ?? status.uid);
});

test('a workspace root anyone may write in, or a link, is refused', async (t) => {
  const folder = await scratch(t);
  const open = join(folder, 'open');
  await mkdir(open);
  await chmod(open, 0o777);
  unavailable(t, await prepareWorkspaceRoot(open).catch((error: unknown) => error));
  t.is((await lstat(open)).mode & 0o777, 0o777, 'left as it was');
  const link = join(folder, 'link');
  await mkdir(join(folder, 'target'), { mode: 0o711 });
  await symlink(join(folder, 'target'), link);
  unavailable(t, await prepareWorkspaceRoot(link).catch((error: unknown) => error));
});

test('a workspace root another user made first is refused (root only: chown)', async (t) => {
  if (!IS_ROOT) return t.pass('only root can make a folder another user’s');
  const planted = join(await scratch(t), 'previews');
  await mkdir(planted, { mode: 0o711 });
  await chown(planted, OTHER_UID, OTHER_UID);
  unavailable(t, await prepareWorkspaceRoot(planted).catch((error: unknown) => error));
  t.is((await lstat(planted)).uid, OTHER_UID);
});

test('a planted filter file (another owner, or writable by others) is not loaded: the filter is built again', async (t) => {
  const folder = await scratch(t);
  const reference = await seccompFilterPath(join(folder, 'reference'));
  const built = await readFile(reference);
  const cache = join(folder, 'cache');
  await mkdir(cache, { mode: 0o700 });
  const planted = join(cache, basename(reference));
  await writeFile(planted, 'not a filter');
  await chmod(planted, 0o666);
  const path = await seccompFilterPath(cache);
  t.deepEqual(await readFile(path), built);
  if (IS_ROOT) {
    await writeFile(planted, 'not a filter', { mode: 0o644 });
    await chown(planted, OTHER_UID, OTHER_UID);
    t.deepEqual(await readFile(await seccompFilterPath(cache)), built);
  }
});

test('a filter cache folder that is another’s, or open to others, is refused', async (t) => {
  const folder = await scratch(t);
  const cache = join(folder, 'cache');
  await mkdir(cache);
  await chmod(cache, 0o777);
  unavailable(t, await seccompFilterPath(cache).catch((error: unknown) => error));
});

test('a workspace under a folder the runs’ uids cannot cross is refused, naming it; its own parent is made crossable', async (t) => {
  const folder = await scratch(t);
  const closed = join(folder, 'data');
  await mkdir(closed, { mode: 0o700 });
  await chmod(closed, 0o700);
  // The scratch folder (mkdtemp: 0700) above the data folder is not crossed, and is not the service's to open.
  const error = await checkCrossableByOthers(join(closed, 'previews')).catch((caught: unknown) => caught);
  unavailable(t, error);
  t.true(error instanceof Error && error.message.includes(`${folder} `), String(error));
  t.is((await lstat(folder)).mode & 0o777, 0o700, 'a folder above the parent is left as it was');
  t.is((await lstat(closed)).mode & 0o777, 0o701, 'the parent, the service’s, is made crossable');
  await chmod(folder, 0o711);
  await t.notThrowsAsync(checkCrossableByOthers(join(closed, 'previews')));
});
