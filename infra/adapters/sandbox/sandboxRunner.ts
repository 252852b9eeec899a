/**
 * One preview run under bubblewrap (docs/PREVIEWS.md, "Isolation"): the unpacked artifact bound
 * read-only at /app, a read-only /usr as the whole root, a small tmpfs at /tmp its only writable place, new user, PID, IPC, UTS, cgroup, mount and network
 * namespaces (no network at all: the new network namespace has only a loopback that is down), an
 * unprivileged uid inside and outside, an empty environment but for TZ=UTC, a fixed locale, PATH, HOME
 * and the seed, the seccomp filter of seccompFilter.c, and the resource limits set with `prlimit` before
 * bubblewrap starts:
 *
 * - RLIMIT_CPU: CPU seconds (a busy loop is killed by SIGKILL at the hard limit);
 * - RLIMIT_AS: address space, so a memory hog's allocations fail and it dies;
 * - RLIMIT_NPROC: processes of the run's uid, which holds a fork bomb (each pool slot has its own uid,
 *   so runs do not count against each other);
 * - RLIMIT_NOFILE: open files; RLIMIT_FSIZE: the largest file it may write; RLIMIT_CORE 0.
 *
 * The output (standard output) is read up to its bound; past it the run is cut (killed and recorded as
 * truncated). Standard error is kept, bounded the same way, as the run's log. A wall-clock TTL kills the
 * whole tree: bubblewrap is killed, and --die-with-parent and the PID namespace take every process of
 * the run with it.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { CodedError } from '../../../domain/errors.ts';
import { createRunCgroup } from './cgroups.ts';

export interface SandboxLimits {
  cpuTimeSeconds: number;
  memoryBytes: number;
  processCount: number;
  openFileCount: number;
  outputBytes: number;
  wallClockMs: number;
}

export interface SandboxRunRequest {
  /** The host folder holding the unpacked artifact, bound read-only at /app. */
  folder: string;
  /** The program to run: a path inside the artifact (run as /app/<entryPoint>), or an absolute path under /usr. */
  entryPoint: string;
  args: readonly string[];
  seed: string;
  limits: SandboxLimits;
  /** The uid (and gid) the run has outside its namespace; undefined runs it as the service's own user. */
  hostUid?: number;
  /** The compiled seccomp filter (seccompFilter.ts). */
  seccompFilterPath: string;
  /** Aborting kills the run (drain, shutdown); it is then recorded as killed, not expired. */
  signal?: AbortSignal;
  /** false: prlimit alone even where cgroups are available (the benchmark compares). */
  useCgroups?: boolean;
}

export interface SandboxRunResult {
  exitCode: number | null;
  /** The signal that ended the run, if one did (SIGKILL for a run killed at its TTL or cut). */
  signal: string | null;
  durationMs: number;
  output: Buffer;
  outputSha256: string;
  outputSizeBytes: number;
  truncated: boolean;
  expired: boolean;
  /** Killed on request (abort): the pool was drained or the service is stopping. */
  killed: boolean;
  log: Buffer;
  /** The memory cgroup's OOM killer killed a process of the run. */
  memoryExceeded: boolean;
  /** The run had its cgroups (memory, pids); false: prlimit alone. */
  cgroups: boolean;
}

/** Debian's paths (bubblewrap, util-linux): run by path, not looked up in an environment the run does not have. */
export const PRLIMIT = '/usr/bin/prlimit';
export const BWRAP = '/usr/bin/bwrap';
/** The uid and gid the run has inside its user namespace: nobody. */
export const SANDBOX_UID = 65534;
/** Extra processes the limit must leave room for: bubblewrap itself, outside the namespace. */
const BUBBLEWRAP_PROCESSES = 1;
/** The run's only writable place, /tmp: a tmpfs of this size, gone with the run. */
export const SCRATCH_BYTES = 16 * 1024 * 1024;
/** With the memory cgroup, the address-space limit is this multiple of memoryBytes. */
const ADDRESS_SPACE_FACTOR_WITH_CGROUPS = 4;
/** The exit code, and the message, of a run whose first process could not join its cgroups. */
const CGROUP_JOIN_FAILED = 125;
const CGROUP_JOIN_MESSAGE = 'preview-sandbox: could not join the run cgroups';
/** Names each run's cgroups within this process. */
let runCount = 0;
/** How long bubblewrap has to exit once its program is killed, before it is killed too. */
const KILL_GRACE_MS = 1000;
/** Signals bubblewrap's exit status stands for (128 + n), as a shell reports them. */
const SIGNAL_EXIT_BASE = 128;
const SIGNAL_NAMES: Record<number, string> = {
  6: 'SIGABRT',
  9: 'SIGKILL',
  11: 'SIGSEGV',
  15: 'SIGTERM',
  24: 'SIGXCPU',
  25: 'SIGXFSZ',
};

/** The fixed environment of every run: nothing of the service's own. */
function environment(seed: string): string[] {
  const variables: Record<string, string> = {
    PATH: '/usr/bin:/bin',
    HOME: '/tmp',
    TZ: 'UTC',
    LANG: 'C.UTF-8',
    LC_ALL: 'C.UTF-8',
    PREVIEW_SEED: seed,
    PYTHONHASHSEED: '0',
  };
  return Object.entries(variables).flatMap(([name, value]) => ['--setenv', name, value]);
}

function prlimitArguments(limits: SandboxLimits, cgroups: boolean): string[] {
  const both = (value: number): string => `${value}:${value}`;
  // With the memory cgroup, resident memory is what is held to memoryBytes; address space, which
  // reservations inflate, gets room above it so that the cgroup is the limit a hog meets.
  const addressSpaceBytes = cgroups ? limits.memoryBytes * ADDRESS_SPACE_FACTOR_WITH_CGROUPS : limits.memoryBytes;
  return [
    `--cpu=${limits.cpuTimeSeconds}:${limits.cpuTimeSeconds + 1}`,
    `--as=${both(addressSpaceBytes)}`,
    `--nproc=${both(limits.processCount + BUBBLEWRAP_PROCESSES)}`,
    `--nofile=${both(limits.openFileCount)}`,
    `--fsize=${both(limits.outputBytes)}`,
    '--core=0:0',
  ];
}

/** The whole command line: prlimit, then bubblewrap, then the entry point. */
export function sandboxCommand(request: SandboxRunRequest, seccompFd: number, cgroups = false): string[] {
  const program = request.entryPoint.startsWith('/') ? request.entryPoint : `/app/${request.entryPoint}`;
  return [
    PRLIMIT,
    ...prlimitArguments(request.limits, cgroups),
    '--',
    BWRAP,
    '--unshare-all',
    // The program is the namespace's init: bubblewrap waits for it itself, and when it ends the kernel
    // ends every other process of the namespace (no init of bubblewrap's left for the host to reap).
    '--as-pid-1',
    '--die-with-parent',
    '--new-session',
    '--clearenv',
    '--uid',
    String(SANDBOX_UID),
    '--gid',
    String(SANDBOX_UID),
    '--hostname',
    'preview',
    '--ro-bind',
    '/usr',
    '/usr',
    '--symlink',
    'usr/lib',
    '/lib',
    '--symlink',
    'usr/lib64',
    '/lib64',
    '--symlink',
    'usr/bin',
    '/bin',
    '--symlink',
    'usr/sbin',
    '/sbin',
    '--proc',
    '/proc',
    '--dev',
    '/dev',
    '--ro-bind',
    request.folder,
    '/app',
    '--size',
    String(SCRATCH_BYTES),
    '--tmpfs',
    '/tmp',
    '--remount-ro',
    '/dev',
    '--remount-ro',
    '/',
    '--chdir',
    '/app',
    ...environment(request.seed),
    '--seccomp',
    String(seccompFd),
    '--',
    program,
    ...request.args,
  ];
}

/** Collects a stream up to `limitBytes`; says when more was offered. */
class BoundedSink {
  private readonly chunks: Buffer[] = [];
  sizeBytes = 0;
  overflowed = false;
  constructor(private readonly limitBytes: number) {}

  add(chunk: Buffer): void {
    const room = this.limitBytes - this.sizeBytes;
    if (chunk.length > room) this.overflowed = true;
    const kept = chunk.length > room ? chunk.subarray(0, room) : chunk;
    if (kept.length > 0) this.chunks.push(kept);
    this.sizeBytes += kept.length;
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

function exitOf(
  code: number | null,
  signal: NodeJS.Signals | null,
): { exitCode: number | null; signal: string | null } {
  if (signal !== null) return { exitCode: null, signal };
  // bubblewrap exits with 128 + n when the program was ended by signal n.
  if (code !== null && code > SIGNAL_EXIT_BASE && code < SIGNAL_EXIT_BASE + 65) {
    const number = code - SIGNAL_EXIT_BASE;
    return { exitCode: null, signal: SIGNAL_NAMES[number] ?? `SIG${number}` };
  }
  return { exitCode: code, signal: null };
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/**
 * Kills the run's program, the init of its PID namespace, so that the kernel kills every other process
 * in the namespace and bubblewrap reaps it and exits (killing bubblewrap first would orphan the init, a
 * zombie for the host's init to reap). bubblewrap's children are read from /proc.
 */
function killRun(bubblewrapPid: number): void {
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${bubblewrapPid}/task/${bubblewrapPid}/children`, 'utf8')
      .split(' ')
      .filter((field) => field.length > 0)
      .map(Number);
  } catch {
    // bubblewrap has gone already, or /proc does not list children: the group kill below ends it.
  }
  for (const pid of children) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  if (children.length === 0) killGroup(bubblewrapPid);
}

/** What the run's child process gave, before the cgroups are read. */
type Watched = Omit<SandboxRunResult, 'memoryExceeded' | 'cgroups'>;

/** Spawns the command and watches it: output bounds, TTL, abort. Resolves when it has exited. */
async function watch(request: SandboxRunRequest, command: readonly string[], filterFd: number): Promise<Watched> {
  const started = performance.now();
  const child = spawn(command[0] ?? PYTHON, command.slice(1), {
    env: {},
    stdio: ['ignore', 'pipe', 'pipe', filterFd],
    detached: true,
    ...(request.hostUid === undefined ? {} : { uid: request.hostUid, gid: request.hostUid }),
  });
  const output = new BoundedSink(request.limits.outputBytes);
  const log = new BoundedSink(request.limits.outputBytes);
  let expired = false;
  let killed = false;
  let fallback: NodeJS.Timeout | undefined;
  const killTree = (): void => {
    if (child.pid === undefined || fallback !== undefined) return;
    killRun(child.pid);
    fallback = setTimeout(() => killGroup(child.pid), KILL_GRACE_MS);
  };
  child.stdout?.on('data', (chunk: Buffer) => {
    output.add(chunk);
    if (output.overflowed) killTree();
  });
  child.stderr?.on('data', (chunk: Buffer) => log.add(chunk));
  const timer = setTimeout(() => {
    expired = true;
    killTree();
  }, request.limits.wallClockMs);
  const onAbort = (): void => {
    killed = true;
    killTree();
  };
  request.signal?.addEventListener('abort', onAbort, { once: true });
  if (request.signal?.aborted === true) onAbort();
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (exitCode, exitSignal) => resolve([exitCode, exitSignal]));
  }).finally(() => {
    clearTimeout(timer);
    clearTimeout(fallback);
    request.signal?.removeEventListener('abort', onAbort);
  });
  const bytes = output.bytes();
  return {
    ...exitOf(code, signal),
    durationMs: Math.round(performance.now() - started),
    output: bytes,
    outputSha256: createHash('sha256').update(bytes).digest('hex'),
    outputSizeBytes: bytes.length,
    truncated: output.overflowed,
    expired: expired && !output.overflowed,
    killed: killed && !expired,
    log: log.bytes(),
  };
}

/**
 * The command that first moves itself into the run's cgroups (their `cgroup.procs` files), then execs
 * the sandbox command: nothing of the run is ever outside them. A failed move exits CGROUP_JOIN_FAILED.
 */
function joiningCgroups(procsFiles: readonly string[], command: readonly string[]): string[] {
  const script = `for file in ${procsFiles.map((_, index) => `"$${index + 1}"`).join(' ')}; do echo $$ > "$file" || { echo "${CGROUP_JOIN_MESSAGE}" >&2; exit ${CGROUP_JOIN_FAILED}; }; done; shift ${procsFiles.length}; exec "$@"`;
  return ['/bin/sh', '-c', script, 'sh', ...procsFiles, ...command];
}

/** CPython, run isolated (-I: no environment, no user site, no current folder on its path). */
export const PYTHON = '/usr/bin/python3';
/** The descriptor bubblewrap reads the seccomp filter from: the only one above standard error a run gets. */
const FILTER_FD = 3;

/**
 * The command that first closes every descriptor above the filter's, then execs `command`: node closes
 * what it opens itself on exec, but a descriptor the service inherited without close-on-exec (from its
 * own parent) would otherwise pass through the cgroup join, prlimit and bubblewrap into the run.
 * os.closerange uses close_range(2) where the kernel has it (every descriptor up to the highest, whatever
 * the open-files limit says).
 */
function closingDescriptors(command: readonly string[]): string[] {
  const script = `import os, sys; os.closerange(${FILTER_FD + 1}, 0x7fffffff); os.execv(sys.argv[1], sys.argv[1:])`;
  return [PYTHON, '-I', '-c', script, ...command];
}

/** Runs one preview; resolves when every process of the run is gone. Never rejects for what the workload does. */
export async function runSandboxed(request: SandboxRunRequest): Promise<SandboxRunResult> {
  runCount += 1;
  const cgroup =
    request.useCgroups === false
      ? undefined
      : await createRunCgroup(
          `run-${process.pid}-${runCount}`,
          { memoryBytes: request.limits.memoryBytes, processCount: request.limits.processCount + BUBBLEWRAP_PROCESSES },
          request.hostUid,
        );
  const filter = await open(request.seccompFilterPath, 'r');
  try {
    const command = sandboxCommand(request, FILTER_FD, cgroup !== undefined);
    const joined = cgroup ? joiningCgroups(cgroup.procsFiles, command) : command;
    const watched = await watch(request, closingDescriptors(joined), filter.fd);
    if (watched.exitCode === CGROUP_JOIN_FAILED && watched.log.toString('utf8').startsWith(CGROUP_JOIN_MESSAGE))
      throw new CodedError('PREVIEW_SANDBOX_UNAVAILABLE', 'the run could not join its cgroups', {});
    return { ...watched, memoryExceeded: (await cgroup?.oomKilled()) ?? false, cgroups: cgroup !== undefined };
  } finally {
    await filter.close();
    await cgroup?.remove();
  }
}
