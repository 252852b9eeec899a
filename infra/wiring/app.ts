/**
 * The application: the runtime (database, signer, event store) with every
 * projection folded inline in the append transaction, and the dependencies
 * command handlers take, wrapped once for every entry point: each append
 * timed (audit_append_latency_seconds), and the signer of documents failing
 * closed (any signing failure is SIGNING_UNAVAILABLE, 503 over HTTP, never a
 * 500). The HTTP API, the CLI's demo and proof commands, the benchmarks and
 * the tests start here.
 */
import { ChainError, isChainError } from '../../chain/errors.ts';
import type { Signer } from '../../chain/signer.ts';
import type { EventStore } from '../../chain/store.ts';
import type { CommandDeps } from '../../commands/command.ts';
import { CodedError } from '../../domain/errors.ts';
import {
  auditAppendLatencySeconds,
  deliveryEncryptFailuresTotal,
  deliveryLatencySeconds,
} from '../adapters/metrics.ts';
import type { ListableBlobStore } from '../../commands/blobStore.ts';
import { documentSignatureProblem } from '../../verifier/line.ts';
import { readOrCreateKeyFile } from '../adapters/keys/keyFile.ts';
import { openDataKeys } from './dataKeys.ts';
import { routeLinks, s3PresignedLinks, type DeliveryLinks } from '../adapters/objectStores/deliveryLinks.ts';
import { S3BlobStore } from '../adapters/objectStores/s3BlobStore.ts';
import type { Config } from './config.ts';
import { openRuntime, type Runtime, type RuntimeOptions } from './runtime.ts';
import { sqlChainIndex, sqlIdempotencyLookup } from '../adapters/sql/commandQueries.ts';
import { openBlobStore } from './blobStores.ts';
import { sqlProofStore } from '../adapters/sql/proofDocuments.ts';
import { appendWakeups, type DatabaseWakeups } from '../adapters/sql/appendWakeups.ts';
import type { PayoutProvider } from '../../commands/payouts/payoutProvider.ts';
import { balancesOf, heldOrderPayables, payeeBalances } from '../../projections/payouts/payoutQueries.ts';
import { heldParties, providerExpectations } from '../../projections/reconciliation/reconciliationQueries.ts';
import { noPayoutProvider, sandboxPayoutProvider } from '../adapters/payouts/sandboxPayoutProvider.ts';
import { stripePayoutProvider } from '../adapters/payouts/stripePayoutProvider.ts';
import { assert, assertNever } from '../../domain/errors.ts';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { previewService, type PreviewService } from '../adapters/sandbox/previewService.ts';
import { unfinishedPreviews } from '../../projections/previews/previewQueries.ts';
import { openContent, type ContentServices } from './content.ts';
import type { InspectionPlugin } from '../../commands/content/inspector.ts';

export interface App {
  runtime: Runtime;
  deps: CommandDeps;
  /** What chain subscriptions wait on (chain/subscription.ts): the database's append notifications, listened to once the first subscriber waits. */
  wakeups: DatabaseWakeups;
  /** Where ciphertexts are and how links to them are made (S3 pre-signed GETs, or the signed download route). */
  delivery: { store: ListableBlobStore; links: DeliveryLinks; route: ReturnType<typeof routeLinks> | undefined };
  /** Previews in the sandbox (docs/PREVIEWS.md); its pool opens on the first preview. */
  previews: PreviewService;
  /** The inspector and the encrypted quarantine (infra/wiring/content.ts). */
  content: ContentServices;
  close(): Promise<void>;
}

export interface AppOptions extends Omit<RuntimeOptions, 'projections'> {
  /** Tests: the payout provider to use instead of the configured one. */
  payoutProvider?: PayoutProvider;
  /** Tests and benchmarks: the inspection plugins to use instead of the configured ones. */
  inspectionPlugins?: readonly InspectionPlugin[];
}

export function payoutProviderOf(config: Config): PayoutProvider {
  const { provider, stripe } = config.payouts;
  switch (provider) {
    case 'sandbox':
      return sandboxPayoutProvider();
    case 'none':
      return noPayoutProvider;
    case 'stripe':
      // loadConfig refuses PAYOUT_PROVIDER=stripe without its variables.
      assert(stripe !== undefined, 'PAYOUT_PROVIDER=stripe comes with its configuration');
      return stripePayoutProvider(stripe);
    default:
      return assertNever(provider, 'payout provider');
  }
}

export async function openApp(config: Config, options: AppOptions = {}): Promise<App> {
  const { payoutProvider, inspectionPlugins, ...runtimeOptions } = options;
  const runtime = await openRuntime(config, runtimeOptions);
  const artifacts = openBlobStore(config.artifacts.s3Bucket, config.artifacts.folder, config.archive.s3);
  const deliveries = openBlobStore(config.delivery.s3Bucket, config.delivery.folder, config.archive.s3);
  const route =
    deliveries.store instanceof S3BlobStore
      ? undefined
      : routeLinks(
          config.delivery.linkSecret === undefined
            ? readOrCreateKeyFile(config.delivery.linkSecretFile)
            : Buffer.from(config.delivery.linkSecret, 'utf8'),
        );
  const links = deliveries.store instanceof S3BlobStore ? s3PresignedLinks(deliveries.store) : route!;
  const dataKeys = openDataKeys(config);
  const content = openContent(config, runtime.db, inspectionPlugins);
  const deps: CommandDeps = {
    store: timedStore(runtime.store),
    chain: config.defaultChain,
    idempotency: sqlIdempotencyLookup(runtime.db),
    chainIndex: sqlChainIndex(runtime.db),
    ledger: {
      balances: (accounts, currency) => balancesOf(runtime.db, accounts, currency),
      payees: (filter) => payeeBalances(runtime.db, filter),
      heldParties: () => heldParties(runtime.db),
      heldOrderPayables: () => heldOrderPayables(runtime.db),
      providerExpectations: (period) => providerExpectations(runtime.db, config.defaultChain, period),
    },
    proofs: sqlProofStore(runtime.db),
    payouts: { provider: payoutProvider ?? payoutProviderOf(config), minimumMinor: config.payouts.minimumMinor },
    signer: failClosedSigner(runtime.signer),
    artifacts: { store: artifacts.store, maxBytes: config.artifacts.maxBytes },
    content: content.deps,
    delivery: {
      store: deliveries.store,
      dataKeys: dataKeys.service,
      linkTtlSeconds: config.delivery.linkTtlSeconds,
      objectLifetimeSeconds: config.delivery.objectLifetimeSeconds,
      kernelSignatureProblem: (signature, tsMs, message) =>
        documentSignatureProblem(runtime.registry, signature, tsMs, message),
      observe(outcome, seconds) {
        deliveryLatencySeconds.observe({ outcome }, seconds);
        if (outcome !== 'prepared') deliveryEncryptFailuresTotal.inc({ reason: outcome });
      },
    },
  };
  const wakeups = appendWakeups(runtime.db);
  const previews = previewService({
    pool: config.preview.pool,
    store: artifacts.store,
    logRetentionSeconds: config.preview.logRetentionSeconds,
    runner: `bubblewrap@${hostname()}`,
    now: () => new Date().toISOString(),
    newId: randomUUID,
    unfinished: (startedBefore, limit) => unfinishedPreviews(runtime.db, startedBefore, limit),
  });
  return {
    runtime,
    deps,
    wakeups,
    delivery: { store: deliveries.store, links, route },
    previews,
    content,
    async close() {
      // First: the runs are killed and their outcomes recorded while the chain is still open.
      await previews.close();
      await wakeups.close();
      content.close();
      artifacts.close();
      deliveries.close();
      dataKeys.close();
      await runtime.close();
    },
  };
}

/** The event store with every append timed, by outcome. */
export function timedStore(store: EventStore): EventStore {
  return {
    async append(chain, events, options) {
      const started = performance.now();
      try {
        const result = await store.append(chain, events, options);
        auditAppendLatencySeconds.observe({ outcome: 'ok' }, (performance.now() - started) / 1000);
        return result;
      } catch (error) {
        auditAppendLatencySeconds.observe(
          { outcome: error instanceof CodedError ? error.code : 'error' },
          (performance.now() - started) / 1000,
        );
        throw error;
      }
    },
    readStream: (stream, options) => store.readStream(stream, options),
    readChain: (chain, options) => store.readChain(chain, options),
    head: (chain) => store.head(chain),
    listChains: () => store.listChains(),
    createChain: (chain) => store.createChain(chain),
    close: () => store.close(),
  };
}

/** Documents signed outside the writer (manifest approvals, proofs): a failing signer is SIGNING_UNAVAILABLE. */
export function failClosedSigner(signer: CommandDeps['signer']): CommandDeps['signer'] {
  return {
    kid: signer.kid,
    algorithm: signer.algorithm,
    async signMessage(message: Uint8Array) {
      try {
        return await signer.signMessage(message);
      } catch (error) {
        if (isChainError(error, 'SIGNING_UNAVAILABLE')) throw error;
        const reason = error instanceof Error ? error.message : String(error);
        throw new ChainError('SIGNING_UNAVAILABLE', `signer ${signer.kid} could not sign: ${reason}`, {
          kid: signer.kid,
          reason,
        });
      }
    },
  } satisfies Pick<Signer, 'kid' | 'algorithm' | 'signMessage'>;
}
