/**
 * The uids (and gids: each slot's gid is its uid) the pool's slots run as must belong to nothing else
 * on the host: no user or group in /etc/passwd or /etc/group, no subordinate range in /etc/subuid or
 * /etc/subgid (a rootless container's uids), and no running process. Checked when the pool opens; a
 * conflict refuses it (PREVIEW_SANDBOX_UNAVAILABLE), naming the uid and where it was found.
 */
import { readdir, readFile } from 'node:fs/promises';
import { CodedError } from '../../../domain/errors.ts';

export interface HostIds {
  passwd: string;
  group: string;
  subuid: string;
  subgid: string;
  /** The real uids of the running processes. */
  processUids: readonly number[];
}

/** Ids named in the third field of passwd or group lines. */
function namedIds(text: string): number[] {
  return text
    .split('\n')
    .map((line) => Number(line.split(':')[2]))
    .filter((id) => Number.isInteger(id));
}

/** `name:start:count` ranges of subuid or subgid. */
function ranges(text: string): [number, number][] {
  return text
    .split('\n')
    .map((line) => line.split(':'))
    .filter((fields) => fields.length === 3)
    .map(([, start, count]): [number, number] => [Number(start), Number(count)])
    .filter(([start, count]) => Number.isInteger(start) && Number.isInteger(count));
}

/** Where the first slot id in [base, base + size) is in use, or undefined when none is. */
export function slotIdConflict(base: number, size: number, host: HostIds): string | undefined {
  const inSlots = (id: number): boolean => id >= base && id < base + size;
  const overlaps = ([start, count]: [number, number]): boolean => start < base + size && start + count > base;
  const named = (text: string, file: string): string | undefined => {
    const id = namedIds(text).find(inSlots);
    return id === undefined ? undefined : `uid ${id} is in ${file}`;
  };
  const ranged = (text: string, file: string): string | undefined => {
    const range = ranges(text).find(overlaps);
    return range === undefined ? undefined : `${file} gives ${range[0]}-${range[0] + range[1] - 1}`;
  };
  const process = host.processUids.find(inSlots);
  return (
    named(host.passwd, '/etc/passwd') ??
    named(host.group, '/etc/group') ??
    ranged(host.subuid, '/etc/subuid') ??
    ranged(host.subgid, '/etc/subgid') ??
    (process === undefined ? undefined : `uid ${process} owns a running process`)
  );
}

async function processUids(): Promise<number[]> {
  const uids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/u.test(name)) continue;
    const status = await readFile(`/proc/${name}/status`, 'utf8').catch(() => '');
    const uid = /^Uid:\s+(\d+)/mu.exec(status)?.[1];
    if (uid !== undefined) uids.push(Number(uid));
  }
  return uids;
}

/** Refuses slot uids [base, base + size) that the host uses for anything else. */
export async function checkSlotUids(base: number, size: number): Promise<void> {
  const text = (path: string): Promise<string> => readFile(path, 'utf8').catch(() => '');
  const conflict = slotIdConflict(base, size, {
    passwd: await text('/etc/passwd'),
    group: await text('/etc/group'),
    subuid: await text('/etc/subuid'),
    subgid: await text('/etc/subgid'),
    processUids: await processUids(),
  });
  if (conflict !== undefined) {
    throw new CodedError(
      'PREVIEW_SANDBOX_UNAVAILABLE',
      `the preview slots' uids ${base}-${base + size - 1} are in use: ${conflict}; choose another uidBase`,
      { uidBase: base, size },
    );
  }
}
