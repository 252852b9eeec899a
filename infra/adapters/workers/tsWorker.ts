import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * A worker running a TypeScript module. tsx does not register itself in
 * worker threads, even when they inherit `--import tsx`, so a .ts worker
 * starts from boot.mjs, which registers tsx in the thread and then imports it.
 */
export function tsWorker(url: URL, options: WorkerOptions = {}): Worker {
  if (!url.pathname.endsWith('.ts')) return new Worker(url, options);
  const workerData = { ...(options.workerData as object | undefined), __tsModule: url.href };
  return new Worker(new URL('./boot.mjs', import.meta.url), { ...options, workerData });
}
