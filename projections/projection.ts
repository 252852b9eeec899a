/**
 * A projection folds domain events into tables of the same database (docs/STYLE.md,
 * after Emmett: `{ name, canHandle, evolve }`), here a batch at a time: the
 * inline handler gives it the records of one append transaction, replay a page
 * of verified records.
 */
import type { Actor } from '../domain/actor.ts';
import type { DomainEvent, DomainEventType } from '../domain/domainEvents.ts';
import type { ProjectionExecutor, TableSpec } from './rowStore.ts';

/** A chain record whose event parsed as a domain event. */
export interface ProjectedRecord {
  chain: string;
  seq: number;
  id: string;
  hash: string;
  ts: string;
  stream: string;
  actor: Actor;
  event: DomainEvent;
}

export interface Projection {
  readonly name: string;
  /** Bumped when what the tables hold changes; a database with another version is rebuilt by replay. */
  readonly version: number;
  /** Every table it owns, in digest order. */
  readonly tables: readonly TableSpec[];
  readonly eventTypes: ReadonlySet<DomainEventType>;
  /** Folds records (already filtered to eventTypes, in seq order) into the tables. */
  apply(tx: ProjectionExecutor, records: readonly ProjectedRecord[]): Promise<void>;
}
