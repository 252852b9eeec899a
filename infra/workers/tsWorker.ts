import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * A worker running a TypeScript module. Under `node --import tsx` (tests,
 * npm scripts) workers inherit the loader. When the CLI registered tsx at run
 * time, the worker starts from boot.mjs, which registers it in the thread.
 */
export function tsWorker(url: URL, options: WorkerOptions = {}): Worker {
  const inherited = process.execArgv.some((arg) => arg.includes('tsx'));
  if (inherited || !url.pathname.endsWith('.ts')) return new Worker(url, options);
  const workerData = { ...(options.workerData as object | undefined), __tsModule: url.href };
  return new Worker(new URL('./boot.mjs', import.meta.url), { ...options, workerData });
}
