/**
 * Waiting on the preview sandbox from the tests, instead of fixed sleeps: until a slot's uid has a
 * process (its run has started), or until any condition holds.
 */
import { readdir, readFile } from 'node:fs/promises';

/** The processes whose real uid is `uid`. */
export async function processesOf(uid: number): Promise<number> {
  let count = 0;
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/u.test(name)) continue;
    const status = await readFile(`/proc/${name}/status`, 'utf8').catch(() => '');
    if (new RegExp(`^Uid:\\s+${uid}\\s`, 'mu').test(status)) count += 1;
  }
  return count;
}

/** Resolves once `condition` holds, polling every 20 ms; rejects after `timeoutMs`. */
export async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`not so after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Resolves once slot `uid`'s run has a process (as root); elsewhere once the pool counts it running. */
export async function runObserved(uid: number, runningCount: () => number): Promise<void> {
  if (process.getuid?.() === 0) await until(async () => (await processesOf(uid)) > 0);
  else await until(() => runningCount() > 0);
}
