/**
 * The preview sandbox pool (docs/PREVIEWS.md, "The pool"): at most `size` runs at once, each in a slot
 * with a uid of its own outside its namespace (so that a run's process limit and signals reach no other
 * run), and at most `queueLength` runs waiting; past that a run is refused at once with
 * PREVIEW_POOL_FULL (HTTP 429 with Retry-After), never queued without bound. Each run is unpacked in a
 * fresh folder, run under runSandboxed, and its folder removed.
 *
 * Drain (`chainbook sandbox drain`, the breakout procedure) and close (shutdown) stop taking runs
 * (PREVIEW_POOL_DRAINED, 503), refuse the waiting ones and kill the running ones. The drain marker is a
 * file in the pool's workspace, so that the CLI drains a pool that lives in another process; the pool
 * looks for it every DRAIN_POLL_MS. A run still not over REAP_GRACE_MS past its TTL is reaped: killed,
 * and its slot given back.
 */
import { execFile } from 'node:child_process';
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { CodedError } from '../../../domain/errors.ts';
import {
  previewQueueLength,
  previewSessionCount,
  previewSessionDurationSeconds,
  sandboxFailuresTotal,
} from '../metrics.ts';
import { BWRAP, PRLIMIT, runSandboxed, type SandboxLimits, type SandboxRunResult } from './sandboxRunner.ts';
import { seccompFilterPath } from './seccompFilter.ts';
import { checkSlotUids } from './slotUids.ts';
import { unpackArchive, type ArchiveBounds } from './unpackArchive.ts';
import { checkCrossableByOthers, freshRunFolder, prepareWorkspaceRoot, removeRunFolder } from './workspace.ts';

export interface PreviewPoolConfig {
  size: number;
  queueLength: number;
  /** The most any run may ask for; a run's wall-clock limit is the pool's TTL at most. */
  maxLimits: SandboxLimits;
  archive: ArchiveBounds;
  /**
   * Where runs unpack (root folder, 0711) and where the drain marker and the compiled filter live: made by
   * the service, or refused unless it is a folder of the service's that no one else may write in.
   */
  workspace: string;
  /** Slot n runs as uid `uidBase + n` outside its namespace when the service runs as root. */
  uidBase: number;
  /** What Retry-After says when the pool is full, in seconds. */
  retryAfterSeconds: number;
  /**
   * Opens the pool in a service that is not root: runs then share the service's uid (their process
   * limit counts the service's processes, and `chainbook sandbox drain` cannot kill them by uid).
   * Refused unless set.
   */
  allowUnprivileged?: boolean;
  /** The most previews one buyer may have going on at once (previewService.ts); unset: no limit. */
  maxPerBuyer?: number;
}

/** Refuses a pool in a service that is not root (uid given) unless allowUnprivileged says so. */
export function checkPrivilege(config: Pick<PreviewPoolConfig, 'allowUnprivileged'>, uid: number | undefined): void {
  if (uid === 0 || config.allowUnprivileged === true) return;
  throw new CodedError(
    'PREVIEW_SANDBOX_UNAVAILABLE',
    'the preview sandbox runs each slot as a uid of its own, which needs root: run the service as root, or set allowUnprivileged',
    {},
  );
}

export interface PreviewJob {
  artifact: Buffer;
  entryPoint: string;
  args: readonly string[];
  seed: string;
  limits: SandboxLimits;
}

/** A slot or queue place taken for one run (PreviewPool.reserve): submit it, or release it. */
export interface PoolReservation {
  submit(job: PreviewJob): Promise<SandboxRunResult>;
  release(): void;
}

export const DRAIN_MARKER = 'DRAINED';
/** What every run needs (docs/PREVIEWS.md, "Configuration"), probed when the pool opens. */
const SANDBOX_TOOLS = [BWRAP, PRLIMIT] as const;
const TOOL_PROBE_TIMEOUT_MS = 10_000;
const run = promisify(execFile);
const DRAIN_POLL_MS = 1000;
/** How long a drain waits for the killed runs to be over. */
const DRAIN_WAIT_MS = 10_000;
const DRAIN_WAIT_STEP_MS = 20;
/** How long past its TTL a run may take to be over before the pool reaps it. */
const REAP_GRACE_MS = 5000;

interface Waiting {
  job: PreviewJob;
  resolve: (result: SandboxRunResult) => void;
  reject: (error: unknown) => void;
}

function outcomeOf(result: SandboxRunResult): string {
  if (result.expired) return 'expired';
  if (result.truncated) return 'truncated';
  return result.killed ? 'killed' : 'exited';
}

export class PreviewPool {
  private readonly freeSlots: number[];
  private readonly waiting: Waiting[] = [];
  private readonly running = new Set<AbortController>();
  private drained = false;
  /** Places reserved for runs being recorded, not submitted yet. */
  private reserved = 0;
  /** Drained by the marker file (undone when it is removed), or closed for good. */
  private drainedBy: 'marker' | 'close' | undefined;
  private readonly poll: NodeJS.Timeout;

  private constructor(
    readonly config: PreviewPoolConfig,
    private readonly filterPath: string,
  ) {
    this.freeSlots = Array.from({ length: config.size }, (_, index) => index);
    this.poll = setInterval(() => void this.checkDrainMarker(), DRAIN_POLL_MS);
    this.poll.unref();
  }

  /** Checks the tools, prepares the workspace and the seccomp filter (PREVIEW_SANDBOX_UNAVAILABLE when one is missing). */
  static async open(config: PreviewPoolConfig): Promise<PreviewPool> {
    checkPrivilege(config, process.getuid?.());
    for (const tool of SANDBOX_TOOLS) {
      await run(tool, ['--version'], { env: {}, timeout: TOOL_PROBE_TIMEOUT_MS }).catch(() => {
        throw new CodedError(
          'PREVIEW_SANDBOX_UNAVAILABLE',
          `the preview sandbox needs ${tool}, which does not run here`,
          {
            tool,
          },
        );
      });
    }
    await prepareWorkspaceRoot(config.workspace);
    if (process.getuid?.() === 0) {
      await checkCrossableByOthers(config.workspace);
      await checkSlotUids(config.uidBase, config.size);
    }
    const pool = new PreviewPool(config, await seccompFilterPath(join(config.workspace, 'filter')));
    await pool.checkDrainMarker();
    return pool;
  }

  get runningCount(): number {
    return this.running.size;
  }

  get queuedCount(): number {
    return this.waiting.length;
  }

  get isDrained(): boolean {
    return this.drained;
  }

  /** Refuses now, as `reserve` would, when a run could not be taken. */
  checkAdmission(): void {
    if (this.drained) {
      throw new CodedError('PREVIEW_POOL_DRAINED', 'the preview sandbox pool is drained', {
        retryAfterSeconds: this.config.retryAfterSeconds,
      });
    }
    const taken = this.config.size - this.freeSlots.length + this.waiting.length + this.reserved;
    if (taken >= this.config.size + this.config.queueLength) {
      sandboxFailuresTotal.inc({ reason: 'pool-full' });
      throw new CodedError('PREVIEW_POOL_FULL', 'the preview sandbox pool and its queue are full', {
        retryAfterSeconds: this.config.retryAfterSeconds,
      });
    }
  }

  /**
   * Takes a slot or a queue place now (synchronously, so that requests arriving together cannot all
   * pass one check), for a run to be submitted once it is recorded; refuses as checkAdmission does. The
   * place is the run's until it is submitted or released.
   */
  reserve(): PoolReservation {
    this.checkAdmission();
    this.reserved += 1;
    let held = true;
    const giveBack = (): void => {
      if (!held) return;
      held = false;
      this.reserved -= 1;
    };
    return {
      submit: (job) => {
        if (!held) return Promise.reject(new Error('this reservation was used or released already'));
        giveBack();
        return this.enqueue(job);
      },
      release: giveBack,
    };
  }

  /** Runs `job` in a free slot, or queues it; refuses at once when it can do neither. */
  submit(job: PreviewJob): Promise<SandboxRunResult> {
    return this.reserve().submit(job);
  }

  private enqueue(job: PreviewJob): Promise<SandboxRunResult> {
    if (this.drained)
      return Promise.reject(new CodedError('PREVIEW_POOL_DRAINED', 'the preview sandbox pool is drained'));
    return new Promise((resolve, reject) => {
      this.waiting.push({ job, resolve, reject });
      previewQueueLength.set(this.waiting.length);
      this.next();
    });
  }

  private next(): void {
    while (this.freeSlots.length > 0 && this.waiting.length > 0) {
      const slot = this.freeSlots.pop();
      const waiting = this.waiting.shift();
      if (slot === undefined || waiting === undefined) return;
      previewQueueLength.set(this.waiting.length);
      void this.runInSlot(slot, waiting);
    }
  }

  private async runInSlot(slot: number, { job, resolve, reject }: Waiting): Promise<void> {
    const controller = new AbortController();
    this.running.add(controller);
    previewSessionCount.set(this.running.size);
    const hostUid = process.getuid?.() === 0 ? this.config.uidBase + slot : undefined;
    const reaper = setTimeout(() => controller.abort(), job.limits.wallClockMs + REAP_GRACE_MS);
    let folder: string | undefined;
    let settle: () => void;
    try {
      folder = await freshRunFolder(this.config.workspace, hostUid);
      await unpackArchive(job.artifact, folder, this.config.archive);
      const result = await runSandboxed({
        folder,
        entryPoint: job.entryPoint,
        args: job.args,
        seed: job.seed,
        limits: job.limits,
        ...(hostUid === undefined ? {} : { hostUid }),
        seccompFilterPath: this.filterPath,
        signal: controller.signal,
      });
      const outcome = outcomeOf(result);
      previewSessionDurationSeconds.observe({ outcome }, result.durationMs / 1000);
      if (result.killed) sandboxFailuresTotal.inc({ reason: 'killed' });
      settle = () => resolve(result);
    } catch (error) {
      sandboxFailuresTotal.inc({ reason: error instanceof CodedError ? error.code : 'error' });
      settle = () => reject(error);
    } finally {
      clearTimeout(reaper);
      if (folder !== undefined) await removeRunFolder(folder).catch(() => undefined);
      this.running.delete(controller);
      previewSessionCount.set(this.running.size);
      this.freeSlots.push(slot);
    }
    // Settled once the slot is free again, so that a caller sees the pool as the run left it.
    settle();
    this.next();
  }

  /** Stops taking runs, refuses the waiting ones, kills the running ones; resolves when they are over. */
  async drain(by: 'marker' | 'close' = 'close'): Promise<void> {
    this.drained = true;
    this.drainedBy = this.drainedBy === 'close' ? 'close' : by;
    const refused = this.waiting.splice(0);
    previewQueueLength.set(0);
    for (const waiting of refused) {
      sandboxFailuresTotal.inc({ reason: 'drained' });
      waiting.reject(new CodedError('PREVIEW_POOL_DRAINED', 'the preview sandbox pool was drained'));
    }
    for (const controller of this.running) controller.abort();
    for (let waited = 0; this.running.size > 0 && waited < DRAIN_WAIT_MS; waited += DRAIN_WAIT_STEP_MS) {
      await new Promise((resolve) => setTimeout(resolve, DRAIN_WAIT_STEP_MS));
    }
  }

  /** Shutdown: drain, and stop looking for the marker. */
  async close(): Promise<void> {
    clearInterval(this.poll);
    await this.drain();
  }

  private async checkDrainMarker(): Promise<void> {
    if (this.drainedBy === 'close') return;
    const marked = await stat(join(this.config.workspace, DRAIN_MARKER)).then(
      () => true,
      () => false,
    );
    if (marked && !this.drained) await this.drain('marker');
    if (!marked && this.drainedBy === 'marker') {
      this.drained = false;
      this.drainedBy = undefined;
    }
  }
}

/**
 * The breakout procedure from outside the service (`chainbook sandbox drain`): the marker makes every
 * pool on this host stop taking runs within DRAIN_POLL_MS, and every process of the pool's uids is
 * killed now, whether or not the service answers. Resolves with how many processes were killed.
 */
export async function drainPoolFromOutside(
  config: Pick<PreviewPoolConfig, 'workspace' | 'uidBase' | 'size'>,
): Promise<number> {
  await prepareWorkspaceRoot(config.workspace);
  await writeFile(join(config.workspace, DRAIN_MARKER), `${new Date().toISOString()}\n`);
  let killed = 0;
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/u.test(name)) continue;
    const status = await readFile(`/proc/${name}/status`, 'utf8').catch(() => '');
    const uid = Number(/^Uid:\s+(\d+)/mu.exec(status)?.[1] ?? -1);
    if (uid < config.uidBase || uid >= config.uidBase + config.size) continue;
    try {
      process.kill(Number(name), 'SIGKILL');
      killed += 1;
    } catch {
      // Gone already.
    }
  }
  return killed;
}

/** Undoes drainPoolFromOutside: the pools take runs again within DRAIN_POLL_MS. */
export async function resumePoolFromOutside(config: Pick<PreviewPoolConfig, 'workspace'>): Promise<void> {
  await rm(join(config.workspace, DRAIN_MARKER), { force: true });
}
