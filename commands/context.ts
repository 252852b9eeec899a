/** A command context for a caller acting now: the CLI, the demo, the benchmarks and the tests. */
import { v7 as uuidv7 } from 'uuid';
import type { Actor } from '../domain/actor.ts';
import type { CommandContext } from './command.ts';

export interface ContextOptions {
  idempotencyKey?: string;
  now?: string;
  correlationId?: string;
}

export function contextFor(actor: Actor, options: ContextOptions = {}): CommandContext {
  return {
    actor,
    now: options.now ?? new Date().toISOString(),
    newId: uuidv7,
    ...(options.idempotencyKey === undefined ? {} : { idempotencyKey: options.idempotencyKey }),
    ...(options.correlationId === undefined ? {} : { correlationId: options.correlationId }),
  };
}
