/**
 * Previews end to end (docs/PREVIEWS.md, "A preview, from request to chain"): the pool is asked first
 * whether it takes a run (PREVIEW_POOL_FULL, PREVIEW_POOL_DRAINED); StartPreview checks the listing, the
 * manifest and the artifact (read from the artifact store, its SHA-256 checked, the archive checked as
 * the sandbox will unpack it) and records `preview.started`, so that a run never begins without its
 * record, and nothing runs when the chain cannot be written (the signer is down: SIGNING_UNAVAILABLE);
 * the run then goes to the pool, and its output and log are kept in the object store, bounded, and its
 * outcome recorded (`preview.exited` or `preview.expired`). An outcome that cannot be recorded at once is
 * counted in audit_write_failures_total and tried again, with a growing pause, until it is.
 *
 * The pool is opened on the first preview, so that a process that never runs one never builds the
 * seccomp filter.
 */
import { createHash } from 'node:crypto';
import type { ListableBlobStore } from '../../../commands/blobStore.ts';
import { answeredBefore, type CommandContext, type CommandDeps } from '../../../commands/command.ts';
import {
  recordPreviewOutcome,
  startPreview,
  type PreviewDeps,
  type PreviewOutcome,
} from '../../../commands/previews/previewCommands.ts';
import type { Actor } from '../../../domain/actor.ts';
import { CodedError } from '../../../domain/errors.ts';
import type { StoredArtifact } from '../../../domain/manifests/manifestDecider.ts';
import { previewEventSchemas, type PreviewStarted } from '../../../domain/previews/previewEvents.ts';
import { auditWriteFailuresTotal } from '../metrics.ts';
import { PreviewPool, type PoolReservation, type PreviewPoolConfig } from './previewPool.ts';
import type { SandboxRunResult } from './sandboxRunner.ts';
import { checkArchive } from './unpackArchive.ts';

/** The actor that records outcomes: the service that ran the preview. */
export const PREVIEW_RUNNER_ACTOR: Actor = { id: 'preview-runner', role: 'Service' };
/** Pauses between attempts to record an outcome: doubling from the first to the last, then the last. */
const RECORD_RETRY_FIRST_MS = 200;
const RECORD_RETRY_LAST_MS = 30_000;
/** What a run may take beyond its TTL (unpacking, reaping); a run not finished on the chain this long past
 * its TTL, and past every queued run's, is one whose process stopped (recover()). */
const RECOVER_AFTER_TTL_MS = 60_000;
/** Runs recover() records in one call; the next call takes the rest. */
const MAX_RECOVERED_PER_ROUND = 100;
/** An outcome as kept is a small JSON document. */
const MAX_OUTCOME_BYTES = 16 * 1024;
/** Where outputs and logs are kept in the artifact store: `previews/<previewId>/output` and `…/log`. */
export const PREVIEW_OBJECT_PREFIX = 'previews/';

export interface PreviewServiceOptions {
  pool: PreviewPoolConfig;
  /** Where artifacts are read and where outputs and logs are kept (`previews/<id>/output`, `…/log`). */
  store: ListableBlobStore;
  /** How long outputs and logs are kept (PREVIEW_SANDBOX_POOL_CONFIG logRetentionSeconds). */
  logRetentionSeconds: number;
  runner: string;
  now: () => string;
  newId: () => string;
  /** Previews recorded as started before this time and not finished (the previews projection), at most `limit`. */
  unfinished(startedBefore: string, limit: number): Promise<{ previewId: string }[]>;
}

export interface PreviewService {
  /** The StartPreview handler with the run behind it (the HTTP route's handler). */
  start(
    deps: CommandDeps,
    input: unknown,
    context: CommandContext,
  ): Promise<Awaited<ReturnType<typeof startPreview>> & { status: 'running' }>;
  /** A finished run's output or log, as kept; undefined when there is none (yet, or any more). */
  read(previewId: string, what: 'output' | 'log'): Promise<Buffer | undefined>;
  /**
   * Records the outcome of every run started longer before `nowMs` than a queued run can wait and run
   * and still not finished on the chain (the process that ran it stopped before it could record it):
   * the outcome it kept in the store, or, when it kept none, the run as killed with its process.
   * Returns the preview ids recorded.
   */
  recover(deps: CommandDeps, nowMs: number): Promise<string[]>;
  /** Deletes the outputs and logs kept longer than logRetentionSeconds; returns their keys. */
  sweep(nowMs: number): Promise<string[]>;
  /** Resolves when every run started so far is over and its outcome recorded (tests, shutdown). */
  settled(): Promise<void>;
  /** The pool, once opened. */
  pool(): Promise<PreviewPool>;
  close(): Promise<void>;
}

async function bytesOf(body: AsyncIterable<Uint8Array>, limitBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += chunk.byteLength;
    if (total > limitBytes)
      throw new CodedError('PREVIEW_ARCHIVE_REFUSED', 'preview archive refused: larger than its bound', {});
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}

function outcomeOf(preview: PreviewStarted, result: SandboxRunResult): PreviewOutcome {
  const output = { previewId: preview.previewId, durationMs: result.durationMs, outputSha256: result.outputSha256 };
  if (result.expired)
    return {
      type: 'preview.expired',
      data: { ...output, outputSizeBytes: result.outputSizeBytes, ttlMs: preview.limits.wallClockMs },
    };
  return {
    type: 'preview.exited',
    data: {
      ...output,
      outputSizeBytes: result.outputSizeBytes,
      exitCode: result.exitCode,
      signal: result.signal,
      truncated: result.truncated,
      killed: result.killed,
      memoryExceeded: result.memoryExceeded,
    },
  };
}

/** A run that never ran (refused by the pool after it was recorded, or the sandbox failed): recorded as killed, no output. */
function notRunOutcome(previewId: string): PreviewOutcome {
  return {
    type: 'preview.exited',
    data: {
      previewId,
      durationMs: 0,
      outputSha256: createHash('sha256').digest('hex'),
      outputSizeBytes: 0,
      exitCode: null,
      signal: null,
      truncated: false,
      killed: true,
      memoryExceeded: false,
    },
  };
}

/** At most `limit` of `task` at once; the others wait their turn, in order. */
function semaphore(limit: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  const turns: (() => void)[] = [];
  return async (task) => {
    if (active >= limit) await new Promise<void>((resolve) => turns.push(resolve));
    else active += 1;
    try {
      return await task();
    } finally {
      const nextTurn = turns.shift();
      if (nextTurn === undefined) active -= 1;
      else nextTurn();
    }
  };
}

export function previewService(options: PreviewServiceOptions): PreviewService {
  // Reading and checking an artifact holds it in memory and inflates it: as many at once as the pool has slots.
  const archiveCheck = semaphore(options.pool.size);
  let opened: Promise<PreviewPool> | undefined;
  const pool = (): Promise<PreviewPool> => {
    opened ??= PreviewPool.open(options.pool).catch((error: unknown) => {
      opened = undefined;
      throw error;
    });
    return opened;
  };
  const running = new Set<Promise<void>>();
  let closing = false;
  /** Previews going on (from admission until recorded) by buyer. */
  const perBuyer = new Map<string, number>();

  /** Takes one of the buyer's maxPerBuyer places, or refuses; returns what gives it back (once). */
  function takeBuyerPlace(buyerId: string, opened: PreviewPool): () => void {
    const count = perBuyer.get(buyerId) ?? 0;
    if (count >= (options.pool.maxPerBuyer ?? Number.POSITIVE_INFINITY)) {
      throw new CodedError('PREVIEW_BUYER_LIMIT', 'this buyer has as many previews going on as it may', {
        retryAfterSeconds: opened.config.retryAfterSeconds,
      });
    }
    perBuyer.set(buyerId, count + 1);
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      const left = (perBuyer.get(buyerId) ?? 1) - 1;
      if (left > 0) perBuyer.set(buyerId, left);
      else perBuyer.delete(buyerId);
    };
  }

  const previewDeps: PreviewDeps = {
    maxLimits: options.pool.maxLimits,
    runner: options.runner,
    loadArtifact(artifact: StoredArtifact): Promise<Buffer> {
      return archiveCheck(() => loadArtifact(artifact));
    },
  };

  async function loadArtifact(artifact: StoredArtifact): Promise<Buffer> {
    const limitBytes = options.pool.archive.maxUnpackedBytes;
    if (artifact.sizeBytes > limitBytes)
      throw new CodedError('PREVIEW_ARCHIVE_REFUSED', 'preview archive refused: larger than its bound', {});
    const body = await options.store.get(artifact.objectKey);
    if (body === undefined)
      throw new CodedError('PREVIEW_ARTIFACT_MISSING', 'the artifact is not in the artifact store', {});
    const bytes = await bytesOf(body, limitBytes);
    if (createHash('sha256').update(bytes).digest('hex') !== artifact.artifactSha256)
      throw new CodedError('PREVIEW_ARCHIVE_REFUSED', 'preview archive refused: not the recorded artifact', {});
    await checkArchive(bytes, options.pool.archive);
    return bytes;
  }

  /**
   * How long after its preview.started a run may still be going on: waiting behind every queued run
   * (each a TTL, its reaping and its unpacking) and then its own.
   */
  const recoverGraceMs =
    (Math.ceil(options.pool.queueLength / options.pool.size) + 1) *
    (options.pool.maxLimits.wallClockMs + RECOVER_AFTER_TTL_MS);

  /** The outcome a stopped process kept for `previewId`, when there is one it is; else killed with it. */
  async function keptOutcome(previewId: string): Promise<PreviewOutcome> {
    const kept = await options.store.get(`${PREVIEW_OBJECT_PREFIX}${previewId}/outcome`);
    if (kept === undefined) return notRunOutcome(previewId);
    try {
      const json = JSON.parse((await bytesOf(kept, MAX_OUTCOME_BYTES)).toString('utf8')) as { type?: unknown };
      const schema =
        json.type === 'preview.exited' || json.type === 'preview.expired' ? previewEventSchemas[json.type] : undefined;
      const data = schema?.safeParse((json as { data?: unknown }).data);
      if (data?.success === true && data.data.previewId === previewId)
        return { type: json.type, data: data.data } as PreviewOutcome;
    } catch {
      // Unreadable: as if none was kept.
    }
    return notRunOutcome(previewId);
  }

  const context = (): CommandContext => ({ actor: PREVIEW_RUNNER_ACTOR, now: options.now(), newId: options.newId });

  /** Records the outcome, however long the chain takes to be writable again; while the process lives. */
  async function record(deps: CommandDeps, outcome: PreviewOutcome): Promise<void> {
    for (let pauseMs = RECORD_RETRY_FIRST_MS; ; pauseMs = Math.min(pauseMs * 2, RECORD_RETRY_LAST_MS)) {
      try {
        await recordPreviewOutcome(deps, outcome, context());
        return;
      } catch (error) {
        if (error instanceof CodedError && error.code === 'PREVIEW_ALREADY_FINISHED') return;
        auditWriteFailuresTotal.inc();
        if (closing) return;
        await new Promise((resolve) => setTimeout(resolve, pauseMs));
      }
    }
  }

  async function keep(previewId: string, what: 'output' | 'log' | 'outcome', bytes: Buffer): Promise<void> {
    const body = (async function* () {
      yield bytes;
    })();
    // Best effort: the outcome, with the output's SHA-256, is recorded whether or not the bytes could be kept.
    await options.store.put(`${PREVIEW_OBJECT_PREFIX}${previewId}/${what}`, body).catch(() => undefined);
  }

  async function run(
    deps: CommandDeps,
    place: PoolReservation | PreviewPool,
    preview: PreviewStarted,
    artifact: Buffer,
  ): Promise<void> {
    let outcome: PreviewOutcome;
    try {
      const result = await place.submit({
        artifact,
        entryPoint: preview.entryPoint,
        args: preview.args,
        seed: preview.seed,
        limits: preview.limits,
      });
      await keep(preview.previewId, 'output', result.output);
      await keep(preview.previewId, 'log', result.log);
      outcome = outcomeOf(preview, result);
    } catch {
      outcome = notRunOutcome(preview.previewId);
    }
    // Kept first, so that a process that stops before the chain takes it leaves it for recover().
    await keep(preview.previewId, 'outcome', Buffer.from(JSON.stringify(outcome)));
    await record(deps, outcome);
  }

  return {
    async start(deps, input, commandContext) {
      if (closing) throw new CodedError('PREVIEW_POOL_DRAINED', 'the service is stopping', {});
      const opened = await pool();
      // A retry under the same Idempotency-Key is answered from the first request, full pool or not.
      const replay =
        commandContext.idempotencyKey !== undefined &&
        (await answeredBefore(deps, commandContext, { operation: 'startPreview', input })) !== undefined;
      // The buyer's place and the pool's are taken before the run is recorded, and given back when it is not.
      const buyerPlace = replay ? undefined : takeBuyerPlace(commandContext.actor.id, opened);
      let reservation: PoolReservation | undefined;
      let started: Awaited<ReturnType<typeof startPreview>>;
      try {
        reservation = replay ? undefined : opened.reserve();
        started = await startPreview({ ...deps, previews: previewDeps }, input, commandContext);
      } catch (error) {
        reservation?.release();
        buyerPlace?.();
        throw error;
      }
      const { preview, artifact, ...answer } = started;
      if (preview !== undefined && artifact !== undefined) {
        const done: Promise<void> = run(deps, reservation ?? opened, preview, artifact).finally(() => {
          buyerPlace?.();
          running.delete(done);
        });
        running.add(done);
      } else {
        reservation?.release();
        buyerPlace?.();
      }
      return { ...answer, status: 'running' as const };
    },
    async read(previewId, what) {
      const body = await options.store.get(`${PREVIEW_OBJECT_PREFIX}${previewId}/${what}`);
      return body === undefined ? undefined : bytesOf(body, options.pool.maxLimits.outputBytes);
    },
    async recover(deps, nowMs) {
      const lost = await options.unfinished(new Date(nowMs - recoverGraceMs).toISOString(), MAX_RECOVERED_PER_ROUND);
      const recovered: string[] = [];
      // One run that cannot be recorded now (the chain is down, its kept outcome unreadable) does not stop
      // the others: it is counted, and the next round tries it again.
      for (const { previewId } of lost) {
        try {
          await recordPreviewOutcome(deps, await keptOutcome(previewId), context());
          recovered.push(previewId);
        } catch (error) {
          if (!(error instanceof CodedError && error.code === 'PREVIEW_ALREADY_FINISHED'))
            auditWriteFailuresTotal.inc();
        }
      }
      return recovered;
    },
    async sweep(nowMs) {
      const expired = await options.store.olderThan(PREVIEW_OBJECT_PREFIX, nowMs - options.logRetentionSeconds * 1000);
      for (const key of expired) await options.store.delete(key);
      return expired;
    },
    async settled() {
      while (running.size > 0) await Promise.all([...running]);
    },
    pool,
    async close() {
      closing = true;
      if (opened !== undefined) await (await opened.catch(() => undefined))?.close();
      await Promise.all([...running]);
    },
  };
}
