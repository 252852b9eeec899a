/** Object keys as paths under a store's folder (the archive's and the blob stores'): `/`-separated, never leaving it. */
import { resolve, sep } from 'node:path';
import { assert } from '../../../domain/errors.ts';

/** The path of `key` under `root` (`folder` names it in the assertion); a part empty, `.`, `..` or starting with `reservedPrefix` is a bug. */
export function pathUnder(root: string, key: string, folder: string, reservedPrefix?: string): string {
  const path = resolve(root, ...key.split('/'));
  const badPart = (part: string): boolean =>
    part === '' || part === '.' || part === '..' || (reservedPrefix !== undefined && part.startsWith(reservedPrefix));
  assert(path.startsWith(`${root}${sep}`) && !key.split('/').some(badPart), `key ${key} leaves ${folder}`);
  return path;
}
