/**
 * A decider is three plain functions over one aggregate (docs/STYLE.md, after
 * Emmett): `decide` turns a command and the current state into events or a
 * CodedError, `evolve` folds one event into the state, `initialState` is the
 * state of a stream that does not exist yet.
 */
export interface Decider<Command, Event, State> {
  decide(command: Command, state: State): Event[];
  evolve(state: State, event: Event): State;
  initialState: State;
}

/** The state after a stream's events, in order. */
export function fold<Command, Event, State>(decider: Decider<Command, Event, State>, events: readonly Event[]): State {
  let state = decider.initialState;
  for (const event of events) state = decider.evolve(state, event);
  return state;
}
