import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * A worker running one of our modules, named by the URL of its TypeScript source. In the compiled
 * build (dist/, where this file is tsWorker.js) the module is the .js beside it. From the source, tsx
 * does not register itself in worker threads, even when they inherit `--import tsx`, so a .ts worker
 * starts from boot.mjs, which registers tsx in the thread and then imports it.
 */
export function tsWorker(url: URL, options: WorkerOptions = {}): Worker {
  if (!url.pathname.endsWith('.ts')) return new Worker(url, options);
  if (import.meta.url.endsWith('.js')) return new Worker(new URL(url.href.replace(/\.ts$/, '.js')), options);
  const workerData = { ...(options.workerData as object | undefined), __tsModule: url.href };
  return new Worker(new URL('./boot.mjs', import.meta.url), { ...options, workerData });
}
