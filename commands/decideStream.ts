/** The usual step of a handler: load one stream, check the client's expected version, decide. */
import type { EventStore } from '../chain/store.ts';
import type { Decider } from '../domain/decider.ts';
import type { DomainEvent } from '../domain/domainEvents.ts';
import { z } from 'zod';
import { checkExpectedVersion, loadStream, type StreamAppend } from './command.ts';

/** Ids a client may give to entities it creates: they become stream names. */
export const entityIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/, 'letters, digits and . _ : - (at most 64)');

export function typesOf<Type extends string>(schemas: Record<Type, unknown>): Type[] {
  return Object.keys(schemas) as Type[];
}

export interface DecidedStream<State> extends StreamAppend {
  /** The state the decision was made on. */
  state: State;
}

export interface DecideStreamOptions {
  /** The client's expected version of the stream, when it sent one. */
  expectedVersion?: number | undefined;
  /** Decide as on a new stream without reading it: for streams whose id was just made; a wrong guess is a version conflict, and a retry reads. */
  assumeNew?: boolean;
}

export async function decideStream<Command, Event extends DomainEvent, State>(
  store: EventStore,
  stream: string,
  decider: Decider<Command, Event, State>,
  types: readonly Event['type'][],
  command: Command | ((state: State) => Command),
  { expectedVersion, assumeNew = false }: DecideStreamOptions = {},
): Promise<DecidedStream<State>> {
  const loaded = assumeNew
    ? { stream, version: 0, state: decider.initialState }
    : await loadStream(store, stream, decider, types);
  checkExpectedVersion(loaded, expectedVersion);
  const decided = decider.decide(
    typeof command === 'function' ? (command as (state: State) => Command)(loaded.state) : command,
    loaded.state,
  );
  return { stream, expectedVersion: loaded.version, events: decided, state: loaded.state };
}
