/** given(events).when(command).then(events) for deciders (docs/STYLE.md, after Emmett). */
import type { ExecutionContext } from 'ava';
import type { Decider } from '../../domain/decider.ts';
import { CodedError } from '../../domain/errors.ts';

export function given<Command, Event, State>(decider: Decider<Command, Event, State>, events: readonly Event[] = []) {
  const state = events.reduce(decider.evolve, decider.initialState);
  return {
    when(command: Command) {
      return {
        then(t: ExecutionContext, expected: readonly Event[]): void {
          t.deepEqual(decider.decide(command, state), expected);
        },
        /** Asserts a business rejection with this code (a CodedError, never a bug). */
        thenRejects(t: ExecutionContext, code: string): void {
          const error = t.throws(() => decider.decide(command, state));
          t.true(error instanceof CodedError, `expected a CodedError, got ${String(error)}`);
          t.is((error as CodedError).code, code);
        },
      };
    },
  };
}
