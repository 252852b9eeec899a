/**
 * AppendWakeups (chain/subscription.ts) over the database's notifications:
 * one LISTEN chainbook_appended per process, shared by every subscriber,
 * fed by the trigger of migration 0010 (a chain's head moved). On PostgreSQL
 * the listening connection is its own; when it is lost every subscriber is
 * woken to read again, and it is opened again after `retryMs`, subscribers
 * polling meanwhile. On the embedded database the notifications are in
 * process. Either way a subscriber never waits longer than its poll
 * interval: notifications make it prompt, polling makes it sure.
 */
import type { AppendWakeups } from '../../../chain/subscription.ts';
import type { SqlDatabase } from './sql.ts';

export const APPEND_CHANNEL = 'chainbook_appended';
export const DEFAULT_LISTEN_RETRY_MS = 5000;

export interface DatabaseWakeups extends AppendWakeups {
  /** Whether notifications arrive now (for /ready and tests); false before the first wait and while reconnecting. */
  listening(): boolean;
  close(): Promise<void>;
}

export function appendWakeups(
  db: Pick<SqlDatabase, 'listen'>,
  options: { retryMs?: number; onLost?: (error: Error) => void } = {},
): DatabaseWakeups {
  const retryMs = options.retryMs ?? DEFAULT_LISTEN_RETRY_MS;
  const generations = new Map<string, number>();
  const waiters = new Map<string, Set<() => void>>();
  let state: 'idle' | 'starting' | 'listening' | 'retrying' | 'closed' = 'idle';
  let stop: (() => Promise<void>) | undefined;
  let retry: NodeJS.Timeout | undefined;

  const bump = (chain: string) => {
    generations.set(chain, (generations.get(chain) ?? 0) + 1);
    for (const wake of waiters.get(chain) ?? []) wake();
  };
  const wakeAll = () => {
    for (const chain of new Set([...generations.keys(), ...waiters.keys()])) bump(chain);
  };
  /** One attempt at a time: a retry is scheduled only from the attempt (or the connection) that failed. */
  const scheduleRetry = () => {
    if (state === 'closed' || retry !== undefined) return;
    state = 'retrying';
    retry = setTimeout(() => {
      retry = undefined;
      start();
    }, retryMs);
    retry.unref();
  };
  function start(): void {
    if (state === 'closed' || state === 'starting' || state === 'listening') return;
    state = 'starting';
    db.listen(APPEND_CHANNEL, bump, (error) => {
      stop = undefined;
      options.onLost?.(error);
      wakeAll(); // what was announced while it was down is read now
      scheduleRetry();
    }).then(
      (unlisten) => {
        if (state !== 'starting') return void unlisten(); // closed meanwhile
        stop = unlisten;
        state = 'listening';
        wakeAll();
      },
      (error: unknown) => {
        options.onLost?.(error instanceof Error ? error : new Error(String(error)));
        if (state === 'starting') state = 'retrying';
        scheduleRetry();
      },
    );
  }

  return {
    generation: (chain) => generations.get(chain) ?? 0,
    wait(chain, seen, timeoutMs, signal) {
      if (state === 'idle') start();
      if ((generations.get(chain) ?? 0) !== seen || signal?.aborted) return Promise.resolve();
      // Closed: nothing will wake it, so it waits out its time (a subscriber still running polls, it does not spin).
      return new Promise<void>((resolve) => {
        const set = waiters.get(chain) ?? new Set<() => void>();
        waiters.set(chain, set);
        const done = () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', done);
          set.delete(done);
          if (set.size === 0) waiters.delete(chain);
          resolve();
        };
        const timer = setTimeout(done, timeoutMs);
        signal?.addEventListener('abort', done, { once: true });
        set.add(done);
      });
    },
    listening: () => state === 'listening',
    async close() {
      state = 'closed';
      clearTimeout(retry);
      retry = undefined;
      wakeAll();
      await stop?.();
      stop = undefined;
    },
  };
}
