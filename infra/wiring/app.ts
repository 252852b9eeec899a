/**
 * The application: the runtime (database, signer, event store) with every
 * projection folded inline in the append transaction, and the dependencies
 * command handlers take. The CLI's demo, replay and proof commands, the
 * benchmarks and the HTTP API start here.
 */
import type { CommandDeps } from '../../commands/command.ts';
import type { Config } from './config.ts';
import { openRuntime, type Runtime, type RuntimeOptions } from './runtime.ts';
import { sqlChainIndex, sqlIdempotencyLookup } from '../adapters/sql/commandQueries.ts';

export interface App {
  runtime: Runtime;
  deps: CommandDeps;
  close(): Promise<void>;
}

export async function openApp(config: Config, options: Omit<RuntimeOptions, 'projections'> = {}): Promise<App> {
  const runtime = await openRuntime(config, options);
  const deps: CommandDeps = {
    store: runtime.store,
    chain: config.defaultChain,
    idempotency: sqlIdempotencyLookup(runtime.db),
    chainIndex: sqlChainIndex(runtime.db),
    signer: runtime.signer,
  };
  return { runtime, deps, close: () => runtime.close() };
}
