/**
 * The event store as commands, projections, the verifier and the CLI see it.
 * infra/adapters/sql implements it over PostgreSQL and PGlite with the same SQL.
 */
import type { AppendEventInput, AppendOptions } from './input.ts';
import type { ChainHead, StoredRecord } from './record.ts';

export interface AppendedEvent {
  seq: number;
  id: string;
  stream: string;
  version: number;
  type: string;
  hash: string;
}

export interface AppendResult {
  chain: string;
  events: AppendedEvent[];
  /** True when an earlier append with the same idempotency key is returned instead. */
  replayed: boolean;
}

export interface ReadChainOptions {
  fromSeq?: number;
  toSeq?: number;
  /** At most MAX_PAGE_RECORDS. */
  limit?: number;
}

export interface ReadStreamOptions {
  fromVersion?: number;
  limit?: number;
}

export interface EventStore {
  append(chain: string, events: readonly AppendEventInput[], options?: AppendOptions): Promise<AppendResult>;
  /** Records of one stream in version order, one bounded page. */
  readStream(stream: string, options?: ReadStreamOptions): Promise<StoredRecord[]>;
  /** Records of one chain in seq order, one bounded page. */
  readChain(chain: string, options?: ReadChainOptions): Promise<StoredRecord[]>;
  /** Throws UNKNOWN_CHAIN for a chain that was never created. */
  head(chain: string): Promise<ChainHead>;
  listChains(): Promise<ChainHead[]>;
  /** Creates an empty chain; CHAIN_EXISTS when it exists. */
  createChain(chain: string): Promise<ChainHead>;
  close(): Promise<void>;
}
