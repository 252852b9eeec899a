/**
 * `chainbook serve` (and `npm start`): the HTTP API on PORT (default 8080).
 * On the embedded default, the first start makes a SuperAdmin token, prints
 * it once and stores only its hash. Refuses to start (exit 1, one message per
 * problem) on a bad configuration or a failed production guard. SIGTERM or
 * SIGINT: stop accepting, finish in-flight requests and stop the relays
 * (bounded), close the pool, end the process. With KAFKA_BROKERS it also
 * relays every chain to Kafka (infra/wiring/relays.ts), reading only:
 * appends never wait for it.
 */
import { closeObservability } from './observability.ts';
import type { Command } from 'commander';
import { CodedError } from '../../../domain/errors.ts';
import { openApp, type App } from '../../wiring/app.ts';
import { firstStartToken, FIRST_ADMIN_ACTOR } from '../http/auth/tokens.ts';
import { loadServeConfig, type ServeConfig } from '../../wiring/httpConfig.ts';
import { ROUTES, startHttpServer } from '../http/server.ts';
import { sweepDeliveries } from '../../../commands/delivery/sweepDeliveries.ts';
import { createServices } from '../http/services.ts';
import { describeError, EXIT, exitCodeFor } from './io.ts';
import { checkpointing } from '../../wiring/checkpoints.ts';
import { chainNames } from '../../adapters/sql/eventLog.ts';
import { backfillTree } from '../../adapters/sql/treeBackfill.ts';
import { loadStreamConfig, type StreamConfig } from '../../wiring/streamConfig.ts';
import { openTarget, startRelay, type OpenedTarget, type RelayLog, type RunningRelay } from '../../wiring/relays.ts';
import type { Check } from '../http/readiness.ts';
import type { Logger } from '../http/logger.ts';
import { checkpointWitnessFailuresTotal } from '../../adapters/metrics.ts';
import { QUARANTINE_EXPIRY_INTERVAL_MS, runQuarantineExpiry } from '../../wiring/content.ts';
import { openApiToServe, type ServedOpenApi } from '../http/openApiFile.ts';
import { openApiDocument } from '../http/openapi.ts';
import { refusingPlaceholders } from '../../wiring/devPlaceholders.ts';
import { IDEMPOTENCY_PURGE_INTERVAL_MS, purgeIdempotency } from '../../wiring/idempotencyRetention.ts';
import type { HttpServices } from '../http/route.ts';
import { dataKeysUnder } from '../../adapters/quarantine/quarantineVault.ts';

function say(text: string): void {
  process.stdout.write(`${text}\n`);
}

/** How often `serve` deletes ciphertexts past DELIVERY_OBJECT_LIFETIME (and once at start). */
const DELIVERY_SWEEP_INTERVAL_MS = 3_600_000;
/** How often `serve` asks whether a checkpoint is due (CHECKPOINT_INTERVAL and CHECKPOINT_INTERVAL_RECORDS decide). */
const CHECKPOINT_POLL_MS = 1000;

async function open(): Promise<
  { serve: ServeConfig; stream: StreamConfig; openApi: ServedOpenApi; app: App } | CodedError
> {
  try {
    // The laptop stack's secrets (deploy/compose/compose.yaml) are refused in production, with the rest.
    const serve = refusingPlaceholders(process.env, () => loadServeConfig());
    const stream = loadStreamConfig();
    // Before anything is opened: an image without its document is refused at once.
    const openApi = openApiToServe(process.env, serve.config.production, openApiDocument(ROUTES));
    return { serve, stream, openApi, app: await openApp(serve.config) };
  } catch (error) {
    if (error instanceof CodedError) return error;
    throw error;
  }
}

/** How often `serve` asks the broker for the topic's metadata, for /ready (which answers the last verdict at once). */
const KAFKA_PROBE_INTERVAL_MS = 10_000;

/** How often `serve` looks for chains that have no relay yet (a chain created after it started). */
const RELAY_CHAINS_POLL_MS = 10_000;

/**
 * The Kafka relays of `serve` (KAFKA_BROKERS set): one per chain, each with
 * its own producer, position and lease, started once the API runs (the
 * default chain at once, the others as listChains finds them, every 10 s).
 * /ready reports Kafka from the last probe, never waiting on a broker that
 * is down: a readiness probe's own timeout (a second or so) must not be
 * spent on a part that does not decide readiness.
 */
function kafkaRelayOf(stream: StreamConfig) {
  if (stream.kafka === undefined) return undefined;
  const relays = new Map<string, { target: OpenedTarget; relay: RunningRelay }>();
  let last: Check = { ok: false, message: 'the relay has not started' };
  let probing: NodeJS.Timeout | undefined;
  let discovering: NodeJS.Timeout | undefined;
  let discovery: Promise<void> | undefined;
  let stopped = false;
  const probe = async (): Promise<void> => {
    try {
      await relays.values().next().value?.target.check();
      last = { ok: true };
    } catch (error) {
      last = { ok: false, message: `Kafka at ${new Date().toISOString()}: ${describeError(error)}` };
    }
  };
  return {
    async check(): Promise<Check> {
      for (const [chain, { relay }] of relays) {
        const failure = relay.failure();
        if (failure !== undefined)
          return { ok: false, message: `the relay of chain ${chain} stopped: ${describeError(failure)}` };
      }
      return last;
    },
    async start(app: App, logger: Logger): Promise<void> {
      const log: RelayLog = (level, fields, message) => logger[level](fields, message);
      const relayChain = async (chain: string): Promise<void> => {
        const target = await openTarget('kafka', stream, log);
        const relay = await startRelay({
          target,
          store: app.runtime.store,
          wakeups: app.wakeups,
          db: app.runtime.db,
          chain,
          log,
        });
        relay.done.catch(() => undefined); // logged by startRelay, reported by /ready
        relays.set(chain, { target, relay });
      };
      const discover = async (): Promise<void> => {
        try {
          for (const head of await app.runtime.store.listChains())
            if (!stopped && !relays.has(head.chain)) await relayChain(head.chain);
        } catch (error) {
          logger.warn({ err: error }, 'relay: listing the chains failed; tried again within 10 s');
        } finally {
          discovery = undefined;
        }
      };
      await relayChain(app.deps.chain);
      discovery = discover();
      discovering = setInterval(() => (discovery ??= discover()), RELAY_CHAINS_POLL_MS).unref();
      void probe();
      probing = setInterval(() => void probe(), KAFKA_PROBE_INTERVAL_MS).unref();
    },
    async stop(): Promise<void> {
      stopped = true;
      clearInterval(probing);
      clearInterval(discovering);
      await discovery;
      await Promise.all([...relays.values()].map(({ relay }) => relay.stop()));
    },
  };
}

async function run(): Promise<number> {
  const opened = await open();
  if (opened instanceof CodedError) {
    process.stderr.write(`chainbook serve: refusing to start: ${describeError(opened)}\n`);
    // A configuration refused is a command that could not run (2), as everywhere in the CLI.
    return exitCodeFor(opened);
  }
  const { serve, stream, openApi, app } = opened;
  // Before the services read the token file.
  const token =
    serve.config.databaseUrl === undefined && !serve.config.production
      ? firstStartToken(serve.http.tokensPath)
      : undefined;
  const kafka = kafkaRelayOf(stream);
  const services = createServices(app, serve, ROUTES, {
    ...(kafka ? { kafka: kafka.check } : {}),
    ...(openApi.yaml === undefined ? {} : { openApiYaml: openApi.yaml }),
  });
  if (openApi.warning !== undefined) services.logger.warn({ openApiPath: openApi.path }, openApi.warning);
  const running = await startHttpServer(services, { port: serve.http.port, host: serve.http.host }).catch(
    async (error: unknown) => {
      await services.rateLimits.close();
      await app.close();
      throw error;
    },
  );
  say(
    `chainbook: serving ${running.url} (store ${app.runtime.db.location}, signer ${app.runtime.signer.kid}${serve.config.signingDisabledReason ? ', READ-ONLY' : ''})`,
  );
  say(
    `  GET ${running.url}/health, /ready, /metrics, /openapi.json, /openapi.yaml (${openApi.path ?? 'generated'}); tokens: ${serve.http.tokensPath}`,
  );
  if (token) {
    say(`  first start: a SuperAdmin token for actor "${FIRST_ADMIN_ACTOR}" (shown once; only its hash is stored):`);
    say(`    ${token}`);
    say(`  try: curl -H "Authorization: Bearer ${token}" ${running.url}/chain/head`);
  }
  if (kafka) await kafka.start(app, services.logger);
  const sweep = async (): Promise<void> => {
    try {
      const swept = await sweepDeliveries(app.delivery.store, serve.config.delivery.objectLifetimeSeconds, Date.now());
      if (swept.length > 0)
        services.logger.info({ swept: swept.length }, 'delivery store: expired ciphertexts deleted');
    } catch (error) {
      services.logger.warn({ err: error }, 'delivery store: the lifetime sweep failed; it runs again within the hour');
    }
  };
  const sweepPreviews = async (): Promise<void> => {
    try {
      const recovered = await app.previews.recover(app.deps, Date.now());
      if (recovered.length > 0)
        services.logger.warn({ recovered }, 'previews: outcomes left unrecorded by a stopped process recorded');
      const swept = await app.previews.sweep(Date.now());
      if (swept.length > 0)
        services.logger.info({ swept: swept.length }, 'previews: outputs and logs past their retention deleted');
    } catch (error) {
      services.logger.warn({ err: error }, 'previews: the retention sweep failed; it runs again within the hour');
    }
  };
  // Idempotency records past IDEMPOTENCY_RETENTION_HOURS (migration 0018): every hour, one pass at a time.
  let purgeRound: Promise<void> | undefined;
  const purge = async (): Promise<void> => {
    try {
      const { purged, complete } = await purgeIdempotency(app.runtime.db, serve.config.idempotencyRetentionHours);
      if (purged > 0)
        services.logger.info(
          { purged, complete, retentionHours: serve.config.idempotencyRetentionHours },
          'idempotency: records past their retention deleted',
        );
    } catch (error) {
      services.logger.warn({ err: error }, 'idempotency: the retention purge failed; it runs again within the hour');
    } finally {
      purgeRound = undefined;
    }
  };
  purgeRound = purge();
  const purging = setInterval(() => (purgeRound ??= purge()), IDEMPOTENCY_PURGE_INTERVAL_MS).unref();
  void sweep();
  void sweepPreviews();
  const sweeping = setInterval(() => void sweep().then(sweepPreviews), DELIVERY_SWEEP_INTERVAL_MS).unref();
  void reportKeyRotation(services);
  // The quarantine's expiry job (docs/DOMAIN.md, "Content inspection"): every minute, one pass at a time.
  let expiryRound: Promise<void> | undefined;
  const expire = async (): Promise<void> => {
    const vault = app.content.vault;
    if (vault === undefined) return;
    try {
      const expired = await runQuarantineExpiry(app.deps, vault, Date.now());
      if (expired.length > 0) services.logger.info({ expired: expired.length }, 'quarantine: expired content shredded');
    } catch (error) {
      services.logger.warn({ err: error }, 'quarantine: the expiry pass failed; it runs again within a minute');
    } finally {
      expiryRound = undefined;
    }
  };
  const expiring = setInterval(() => (expiryRound ??= expire()), QUARANTINE_EXPIRY_INTERVAL_MS).unref();
  expiryRound = expire();
  const checkpoints = checkpointing(app.runtime, {
    onWitnessFailure: (failure) => {
      checkpointWitnessFailuresTotal.inc({ chain: failure.chain, witness: failure.witness });
      services.logger.warn(failure, 'checkpoints: a witness did not cosign');
    },
  });
  if (!checkpoints.key)
    services.logger.warn(
      { kid: app.runtime.signer.kid, algorithm: app.runtime.signer.algorithm },
      'checkpoints: the signer is RSA, which no signed-note signature type carries, so no checkpoint is made (docs/FORMAT.md section 14)',
    );
  // Chains appended before the tree existed (migration 0011): their tree is built in the background, in
  // steps, rather than in the transaction of their next append; checkpoints start once it reaches the head.
  const stopBackfill = new AbortController();
  const backfilling = (async () => {
    for (const chain of await chainNames(app.runtime.db)) {
      const report = await backfillTree(
        app.runtime.db,
        chain,
        (progress) => services.logger.info(progress, 'tree backfill: a step written'),
        stopBackfill.signal,
      );
      if (report.steps > 0) services.logger.info(report, 'tree backfill: the tree reached the head');
    }
  })().catch((error: unknown) =>
    services.logger.warn({ err: error }, 'tree backfill failed; run chainbook tree backfill (it resumes)'),
  );
  let checkpointRound: Promise<void> | undefined;
  const checkpoint = async (): Promise<void> => {
    try {
      for (const head of await app.runtime.store.listChains()) await checkpoints.tick(head.chain, Date.now());
    } catch (error) {
      services.logger.warn({ err: error }, 'checkpoints: making one failed; tried again within a second');
    } finally {
      checkpointRound = undefined;
    }
  };
  const checkpointTimer = setInterval(() => {
    if (checkpoints.key) checkpointRound ??= checkpoint();
  }, CHECKPOINT_POLL_MS).unref();
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  clearInterval(sweeping);
  clearInterval(checkpointTimer);
  clearInterval(expiring);
  stopBackfill.abort();
  clearInterval(purging);
  await purgeRound;
  await checkpointRound;
  await expiryRound;
  await backfilling;
  services.logger.info({ inFlight: 'draining' }, 'shutting down: no new requests; finishing those in flight');
  // The relay's stop is bounded (RELAY_STOP_TIMEOUT_MS) and releases its lease; both before the pool closes.
  await Promise.all([running.close(), kafka?.stop()]);
  await app.close();
  services.logger.info('stopped');
  return EXIT.ok;
}

export function registerServe(program: Command, exit: (code: number) => void): void {
  program
    .command('serve')
    .description(
      'serve the HTTP API on PORT (default 8080): commands as POST, projections as GET, /health, /ready, /metrics, /openapi.json and /openapi.yaml (OPENAPI_PATH)',
    )
    .action(async () => {
      const code = await run();
      exit(code);
      await closeObservability();
      // Ended here: a client library's stray timer (a broker that never answered) must not keep the process up.
      process.exit(code);
    });
}

/**
 * With ENCRYPTION_MASTER_KEY_PREVIOUS set (a rotation): how many data keys are still wrapped under it, and,
 * once none are, that the variable should go (README, "Rotating the master key").
 */
async function reportKeyRotation(services: HttpServices): Promise<void> {
  const previous = services.config.content.quarantine.previousMasterKey;
  if (previous === undefined) return;
  try {
    const left = await dataKeysUnder(services.db, previous);
    if (left > 0)
      services.logger.warn(
        { dataKeys: left },
        'quarantine: master key rotation under way; run `chainbook quarantine rewrap`, then remove ENCRYPTION_MASTER_KEY_PREVIOUS',
      );
    else
      services.logger.warn(
        'quarantine: no data key is wrapped under ENCRYPTION_MASTER_KEY_PREVIOUS any more: remove it from the configuration',
      );
  } catch (error) {
    services.logger.warn({ err: error }, 'quarantine: could not count the data keys under the previous master key');
  }
}
