/**
 * Whether the compiled build in dist/ (scripts/build.sh, npm install's `prepare`) is current: written
 * after the last change to any file the build reads. The CLI tests run it when it is, and the source
 * through tsx when it is not (test/helpers/cli.ts); test/scripts/build.e2e.test.ts rebuilds it.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** Written last by the build: its time is the build's. */
export const BUILD_STAMP = join(ROOT, 'dist', 'package.json');
const SOURCE_FOLDERS = ['domain', 'chain', 'commands', 'projections', 'archive', 'verifier', 'infra', 'bin'];
const BUILD_INPUTS = ['package.json', 'tsconfig.json', 'tsconfig.build.json', 'scripts/build.sh'];

function newestSourceMs(): number {
  let newest = 0;
  const visit = (path: string): void => {
    const stat = statSync(path);
    if (stat.isDirectory()) for (const name of readdirSync(path)) visit(join(path, name));
    else newest = Math.max(newest, stat.mtimeMs);
  };
  for (const path of [...SOURCE_FOLDERS, ...BUILD_INPUTS]) visit(join(ROOT, path));
  return newest;
}

export function compiledBuildIsCurrent(): boolean {
  return existsSync(BUILD_STAMP) && statSync(BUILD_STAMP).mtimeMs >= newestSourceMs();
}
