// Entry of worker threads that run TypeScript when the parent registered tsx
// at run time (the CLI): register it in this thread too (tsx's package entry
// does not register itself in worker threads), then run the module.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.__tsModule);
