/**
 * /ready: the database answers, its migrations are this software's, the
 * projections are at the chain head, and the signer can sign now (registered,
 * in its window, a probe signs and verifies; infra/wiring/signing.ts). The signer
 * verdict is reused for READY_CACHE_MS so that probes do not load a KMS.
 * SIGNING_DISABLED_REASON is read-only mode on purpose: reported, not a
 * failure (queries are served; commands get 503). With OIDC, the last
 * attempt to fetch the issuer's key set must not have failed: while it does,
 * JWT callers get 503 (infra/entrypoints/http/auth/authenticate.ts).
 * With KAFKA_BROKERS, the Kafka check says whether the broker answered with
 * the topic at its last probe (every 10 s, infra/entrypoints/cli/serve.ts) and
 * the relay runs; it is reported and never makes the service not-ready: taking the API out of the load balancer because the relay
 * cannot deliver would stop the appends the relay catches up on later
 * (docs/DESIGN.md, "The audit stream"). audit_stream_lag_records alerts.
 */
import type { SignerRegistry } from '../../../chain/registry.ts';
import type { Signer } from '../../../chain/signer.ts';
import { projectionCheckpoints } from '../../../projections/projections.ts';
import type { App } from '../../wiring/app.ts';
import { probeKeySet, type KeySetHealth } from './auth/authenticate.ts';
import { pendingMigrations } from '../../adapters/sql/migrate.ts';
import type { BackendSigner } from '../../adapters/signers/backend.ts';
import { signerReadiness } from '../../wiring/signing.ts';

export const READY_CACHE_MS = 2000;
/** Longest a check may take before it counts as failed. */
export const READY_CHECK_TIMEOUT_MS = 3000;

export interface Check {
  ok: boolean;
  message?: string;
}

export interface Readiness {
  status: 'ready' | 'read-only' | 'not-ready';
  checks: {
    database: Check;
    migrations: Check;
    projections: Check;
    signing: Check & { readOnly?: boolean; kid: string };
    authentication?: Check;
    kafka?: Check;
    /** The content inspector answers CLEAR on a harmless text, every plugin answering (docs/DOMAIN.md, "Content inspection"). */
    inspection: Check;
    /** The quarantine store takes, gives back and deletes an object, and the master key wraps (QUARANTINE_ENABLED=true). */
    quarantine?: Check;
    /** Redis of the rate limits answers (REDIS_URL). Reported, not required: without it each process counts alone. */
    redis?: Check & { required: false };
    /** The rate-limit tiers were read from the database at least once: until then the tiered routes answer 503. */
    rateLimits?: Check;
  };
}

/** What the content inspector runs on for /ready: text no plugin objects to. */
const READY_PROBE_TEXT = 'chainbook readiness probe';

async function inspectionCheck(app: App): Promise<Check> {
  const result = await app.deps.content.inspector.inspect({
    text: READY_PROBE_TEXT,
    contentType: 'text/plain',
    subject: 'manifest',
    actor: { id: 'ready', role: 'Service' },
    probe: true,
  });
  const failing = result.pluginResults.filter((pluginResult) => pluginResult.outcome !== 'ok');
  if (failing.length > 0)
    return {
      ok: false,
      message: failing
        .map((pluginResult) => `${pluginResult.plugin}: ${pluginResult.reason ?? pluginResult.outcome}`)
        .join('; '),
    };
  return result.tier === 'CLEAR'
    ? { ok: true }
    : { ok: false, message: `the probe text was classified ${result.tier}` };
}

function failing(health: KeySetHealth): boolean {
  const failure = health.lastFailure;
  return failure !== undefined && (health.lastSuccessAtMs ?? -1) <= failure.atMs;
}

async function keySetCheck(keySet: { health: KeySetHealth; jwksUrl: string }): Promise<Check> {
  const { health } = keySet;
  if (failing(health)) await probeKeySet(keySet.jwksUrl, health, READY_CHECK_TIMEOUT_MS);
  const failure = health.lastFailure;
  if (failure === undefined || !failing(health)) return { ok: true };
  return {
    ok: false,
    message: `the OIDC key set could not be fetched at ${new Date(failure.atMs).toISOString()}: ${failure.message}`,
  };
}

/** The signer as signerReadiness wants it: backends already are; anything else (tests) is wrapped. */
function backendOf(signer: Signer): BackendSigner {
  if ('description' in signer && 'publicKey' in signer) return signer as BackendSigner;
  return {
    kid: signer.kid,
    algorithm: signer.algorithm,
    publicKey: undefined,
    description: `signer ${signer.kid}`,
    sign: (hash, preimage) => signer.sign(hash, preimage),
    signBatch: (requests) => signer.signBatch(requests),
    signMessage: (message) => signer.signMessage(message),
    close: () => signer.close(),
  };
}

async function within(work: Promise<Check>, what: string): Promise<Check> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Check>((resolve) => {
    timer = setTimeout(
      () => resolve({ ok: false, message: `${what} did not answer within ${READY_CHECK_TIMEOUT_MS} ms` }),
      READY_CHECK_TIMEOUT_MS,
    );
  });
  try {
    return await Promise.race([
      work.catch((error: unknown) => ({
        ok: false,
        message: `${what}: ${error instanceof Error ? error.message : String(error)}`,
      })),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function databaseChecks(app: App): Promise<Pick<Readiness['checks'], 'database' | 'migrations' | 'projections'>> {
  const database = await within(
    app.runtime.db.query('SELECT 1').then(() => ({ ok: true })),
    'the database',
  );
  if (!database.ok)
    return {
      database,
      migrations: { ok: false, message: 'database unreachable' },
      projections: { ok: false, message: 'database unreachable' },
    };
  const migrations = await within(
    pendingMigrations(app.runtime.db).then((pending) =>
      pending.length === 0
        ? { ok: true }
        : { ok: false, message: `pending migrations: ${pending.map((m) => m.version).join(', ')}` },
    ),
    'the migrations',
  );
  const projections = await within(
    (async () => {
      const head = await app.runtime.store.head(app.deps.chain);
      const folded = (await projectionCheckpoints(app.runtime.db)).get(app.deps.chain) ?? 0;
      return folded === head.seq
        ? { ok: true }
        : {
            ok: false,
            message: `projections at seq ${folded}, chain ${app.deps.chain} at ${head.seq}: run chainbook replay`,
          };
    })(),
    'the projections',
  );
  return { database, migrations, projections };
}

/**
 * A check whose verdict is reused for READY_CACHE_MS, so that probes do not
 * run yara or write to S3 each time; concurrent probes while it runs share
 * the one run (/ready is public and not rate limited: a burst must not start
 * a yara process and an S3 write per request).
 */
export function cachedCheck(run: () => Promise<Check>, what: string): () => Promise<Check> {
  let cached: { atMs: number; check: Check } | undefined;
  let running: Promise<Check> | undefined;
  return async () => {
    if (cached && Date.now() - cached.atMs < READY_CACHE_MS) return cached.check;
    running ??= within(run(), what)
      .then((check) => {
        cached = { atMs: Date.now(), check };
        return check;
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  };
}

export function readinessCheck(
  app: App,
  registry: SignerRegistry,
  signingDisabledReason: string | undefined,
  keySet?: { health: KeySetHealth; jwksUrl: string },
  kafka?: () => Promise<Check>,
  redisPing?: () => Promise<void>,
  rateLimitTiersRead?: () => Promise<boolean>,
): () => Promise<Readiness> {
  const signer = backendOf(app.runtime.signer);
  const inspection = cachedCheck(() => inspectionCheck(app), 'the content inspector');
  const vault = app.content.vault;
  const quarantine = vault && cachedCheck(() => vault.check().then(() => ({ ok: true })), 'the quarantine store');
  const redis = redisPing && cachedCheck(() => redisPing().then(() => ({ ok: true })), 'Redis');
  let cached: { atMs: number; check: Check } | undefined;
  async function signing(): Promise<Check> {
    if (cached && Date.now() - cached.atMs < READY_CACHE_MS) return cached.check;
    const problem = await signerReadiness(signer, registry);
    const check = problem ? { ok: false, message: `${problem.code}: ${problem.message}` } : { ok: true };
    cached = { atMs: Date.now(), check };
    return check;
  }
  return async () => {
    const checks = await databaseChecks(app);
    const kid = app.runtime.signer.kid;
    const signingCheck =
      signingDisabledReason !== undefined
        ? { ok: false, readOnly: true, kid, message: `read-only mode: ${signingDisabledReason}` }
        : { ...(await within(signing(), 'the signer')), kid };
    const authentication = keySet ? await keySetCheck(keySet) : undefined;
    const kafkaCheck = kafka ? await within(kafka(), 'Kafka') : undefined;
    const content = { inspection: await inspection(), ...(quarantine ? { quarantine: await quarantine() } : {}) };
    const redisCheck = redis ? { redis: { ...(await redis()), required: false as const } } : {};
    const tiers = rateLimitTiersRead
      ? await within(
          rateLimitTiersRead().then((read) =>
            read
              ? { ok: true }
              : {
                  ok: false,
                  message:
                    'the rate-limit tiers (rate_limit_configs, tier_threshold_configs) could not be read yet: tiered routes answer 503 RATE_LIMITS_UNAVAILABLE',
                },
          ),
          'the rate-limit tiers',
        )
      : undefined;
    const failed =
      authentication?.ok === false ||
      !content.inspection.ok ||
      content.quarantine?.ok === false ||
      tiers?.ok === false ||
      !checks.database.ok ||
      !checks.migrations.ok ||
      !checks.projections.ok ||
      (!signingCheck.ok && signingDisabledReason === undefined);
    return {
      status: failed ? 'not-ready' : signingDisabledReason !== undefined ? 'read-only' : 'ready',
      checks: {
        ...checks,
        signing: signingCheck,
        ...(authentication ? { authentication } : {}),
        ...(kafkaCheck ? { kafka: kafkaCheck } : {}),
        ...content,
        ...redisCheck,
        ...(tiers ? { rateLimits: tiers } : {}),
      },
    };
  };
}
