/**
 * The runbook's sandboxRunner tests (infra/adapters/sandbox/sandboxRunner.ts), with the real bubblewrap,
 * prlimit and the seccomp filter compiled against libseccomp: two runs of the same artifact give the
 * same output hash; each limit holds a hostile workload and is recorded (fork bomb, memory hog, busy
 * loop, sleep past the TTL, output flood); the workload sees no network, no /etc/shadow, no data folder,
 * no environment of the service, cannot write outside its folder and cannot ptrace its parent; and no
 * process of a run outlives it.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import {
  runSandboxed,
  type SandboxLimits,
  type SandboxRunResult,
} from '../../../../infra/adapters/sandbox/sandboxRunner.ts';
import { seccompFilterPath } from '../../../../infra/adapters/sandbox/seccompFilter.ts';
import { unpackArchive } from '../../../../infra/adapters/sandbox/unpackArchive.ts';
import { freshRunFolder, prepareWorkspaceRoot, removeRunFolder } from '../../../../infra/adapters/sandbox/workspace.ts';
import { scriptArtifact } from '../../../helpers/previewArtifacts.ts';
import { processesOf } from '../../../helpers/sandboxProcesses.ts';

const LIMITS: SandboxLimits = {
  cpuTimeSeconds: 2,
  memoryBytes: 256 * 1024 * 1024,
  processCount: 32,
  openFileCount: 64,
  outputBytes: 64 * 1024,
  wallClockMs: 4000,
};
const BOUNDS = { maxEntries: 16, maxUnpackedBytes: 1024 * 1024, maxPathBytes: 200, maxPathDepth: 8 };
/** Run as root (as in CI and here), each run gets a uid of its own outside its namespace. */
const HOST_UID = process.getuid?.() === 0 ? 881_000 : undefined;

const root = join(tmpdir(), `preview-runner-test-${process.pid}`);
let filterPath = '';

test.before(async () => {
  await prepareWorkspaceRoot(root);
  filterPath = await seccompFilterPath(join(root, 'cache'));
});
test.after.always(() => rm(root, { recursive: true, force: true }));

async function run(
  t: ExecutionContext,
  script: string,
  options: {
    limits?: Partial<SandboxLimits>;
    args?: string[];
    seed?: string;
    signal?: AbortSignal;
    useCgroups?: boolean;
  } = {},
): Promise<SandboxRunResult & { text: string; logText: string }> {
  const folder = await freshRunFolder(root, HOST_UID);
  try {
    await unpackArchive(scriptArtifact(script), folder, BOUNDS);
    const result = await runSandboxed({
      folder,
      entryPoint: 'run',
      args: options.args ?? [],
      seed: options.seed ?? 'seed-1',
      limits: { ...LIMITS, ...options.limits },
      ...(HOST_UID === undefined ? {} : { hostUid: HOST_UID }),
      seccompFilterPath: filterPath,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      ...(options.useCgroups === undefined ? {} : { useCgroups: options.useCgroups }),
    });
    if (HOST_UID !== undefined) t.is(await processesOf(HOST_UID), 0, 'no process of the run is left');
    return { ...result, text: result.output.toString('utf8'), logText: result.log.toString('utf8') };
  } finally {
    await removeRunFolder(folder);
  }
}

const DETERMINISTIC = `#!/bin/sh
echo "args: $*"
echo "seed: $PREVIEW_SEED tz: $TZ locale: $LC_ALL"
date -d @0
printf '%s\\n' b a c | sort
ls /app
`;

test('determinism: the same artifact, arguments and seed give the same output and SHA-256; another seed another', async (t) => {
  const first = await run(t, DETERMINISTIC, { args: ['one', 'two'] });
  const second = await run(t, DETERMINISTIC, { args: ['one', 'two'] });
  t.is(first.exitCode, 0, first.logText);
  t.is(first.text, 'args: one two\nseed: seed-1 tz: UTC locale: C.UTF-8\nThu Jan  1 00:00:00 UTC 1970\na\nb\nc\nrun\n');
  t.is(second.outputSha256, first.outputSha256);
  t.is(second.outputSizeBytes, first.outputSizeBytes);
  const other = await run(t, DETERMINISTIC, { args: ['one', 'two'], seed: 'seed-2' });
  t.not(other.outputSha256, first.outputSha256);
});

test('a fork bomb is held by the process limit and the run ends', async (t) => {
  const result = await run(t, '#!/bin/sh\nbomb() { bomb | bomb & }\nbomb\nsleep 1\necho survived\n', {
    limits: { processCount: 16 },
  });
  t.false(result.expired);
  t.true(result.durationMs < LIMITS.wallClockMs);
  t.regex(result.logText, /fork/iu);
});

const HOG = '#!/usr/bin/python3\nheld = []\nwhile True:\n    held.append(b"x" * (16 * 1024 * 1024))\n';

test('a memory hog gets no more than its limit: killed by the memory cgroup where there is one, else its allocations fail', async (t) => {
  const result = await run(t, HOG, { limits: { memoryBytes: 128 * 1024 * 1024 } });
  t.not(result.exitCode, 0);
  if (result.cgroups) {
    t.true(result.memoryExceeded);
    t.is(result.signal, 'SIGKILL');
  } else {
    t.regex(result.logText, /MemoryError/u);
  }
});

test('without cgroups (prlimit alone), a memory hog’s allocations fail at its address-space limit', async (t) => {
  const result = await run(t, HOG, { limits: { memoryBytes: 128 * 1024 * 1024 }, useCgroups: false });
  t.false(result.cgroups);
  t.false(result.memoryExceeded);
  t.is(result.exitCode, 1);
  t.regex(result.logText, /MemoryError/u);
});

test('cgroups are used where the machine offers cgroup v1 memory and pids to root', async (t) => {
  const result = await run(t, '#!/bin/sh\ncat /proc/self/cgroup\n');
  const offered = process.getuid?.() === 0 && existsSync('/sys/fs/cgroup/memory/memory.limit_in_bytes');
  t.is(result.cgroups, offered);
  // Its own cgroup namespace is rooted at the run's cgroup: it sees `/`, nothing of the host's hierarchy.
  t.regex(result.text, /:memory:\/\n/u);
  t.regex(result.text, /:pids:\/\n/u);
});

test('a busy loop is killed at its CPU limit', async (t) => {
  const result = await run(t, '#!/bin/sh\nwhile :; do :; done\n', {
    limits: { cpuTimeSeconds: 1, wallClockMs: 10_000 },
  });
  t.is(result.exitCode, null);
  t.true(result.signal === 'SIGXCPU' || result.signal === 'SIGKILL', String(result.signal));
  t.false(result.expired);
});

test('a run past its wall-clock TTL is expired and its whole tree killed', async (t) => {
  const result = await run(t, '#!/bin/sh\nsleep 60 &\nsleep 60 &\nwhile :; do sleep 1; done\n', {
    limits: { wallClockMs: 800 },
  });
  t.true(result.expired);
  t.is(result.signal, 'SIGKILL');
  // Killed at 800 ms; the upper bound leaves room for 2 busy cores (bubblewrap's start and the kill grace).
  t.true(result.durationMs >= 800 && result.durationMs < 6000, String(result.durationMs));
});

test('an output flood is cut at the bound and recorded as truncated', async (t) => {
  const result = await run(t, '#!/bin/sh\nyes flood\n', { limits: { outputBytes: 10_000 } });
  t.true(result.truncated);
  t.is(result.outputSizeBytes, 10_000);
  t.is(result.output.length, 10_000);
  t.false(result.expired);
});

test('a TCP connection to 127.0.0.1:5432 fails inside, though PostgreSQL listens there outside', async (t) => {
  await new Promise<void>((resolve, reject) => {
    const socket = connect(5432, '127.0.0.1', () => {
      socket.end();
      resolve();
    });
    socket.once('error', reject);
  });
  const result = await run(
    t,
    '#!/bin/bash\nif echo > /dev/tcp/127.0.0.1/5432; then echo connected; else echo refused; fi\n',
  );
  t.is(result.text, 'refused\n');
});

test('the workload cannot read /etc/shadow, the data folder or the service environment', async (t) => {
  const dataFolder = await mkdtemp(join(tmpdir(), 'preview-data-'));
  t.teardown(() => rm(dataFolder, { recursive: true, force: true }));
  await writeFile(join(dataFolder, 'secret.key'), 'top secret');
  process.env.PREVIEW_TEST_SECRET = 'environment-secret';
  t.teardown(() => delete process.env.PREVIEW_TEST_SECRET);
  const result = await run(
    t,
    `#!/bin/sh
cat /etc/shadow 2>/dev/null && echo shadow-read
cat ${dataFolder}/secret.key 2>/dev/null && echo data-read
cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n' | grep -c SECRET
env | grep -c SECRET
ls /proc | grep -c '^[0-9]'
`,
  );
  // Nothing read (no output from either cat), no SECRET in any environment, and only the run's own processes.
  t.false(result.text.includes('top secret') || result.text.includes('-read'), result.text);
  const [environLines, envLines, processLines] = result.text.split('\n').map(Number);
  t.is(environLines, 0, result.text);
  t.is(envLines, 0, result.text);
  t.true(processLines !== undefined && processLines > 0 && processLines < 8, result.text);
});

test('the workload can write in its scratch folder, within its size, and nowhere else', async (t) => {
  const result = await run(
    t,
    `#!/bin/sh
for target in /usr/escape /escape /proc/escape /dev/escape /lib/escape /app/escape /app/run; do
  (echo x > $target) 2>/dev/null && echo "wrote $target"
done
echo kept > /tmp/note && cat /tmp/note
head -c 17000000 /dev/zero > /tmp/big 2>/dev/null || echo scratch full
`,
  );
  t.is(result.text, 'kept\nscratch full\n');
});

test('ptrace of its parent, unshare, mount and keyctl are denied by the seccomp filter', async (t) => {
  const result = await run(
    t,
    `#!/usr/bin/python3
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
def errno_of(value):
    return ctypes.get_errno() if value == -1 else 0
print("ptrace", errno_of(libc.ptrace(16, os.getppid(), 0, 0)))
print("unshare", errno_of(libc.unshare(0x10000000)))
print("mount", errno_of(libc.mount(b"none", b"/app", b"tmpfs", 0, None)))
print("keyctl", errno_of(libc.syscall(250, 0, 0, 0, 0)))
`,
  );
  t.is(result.text, 'ptrace 1\nunshare 1\nmount 1\nkeyctl 1\n', result.logText);
});

test('an aborted run is killed at once and recorded as killed, not expired', async (t) => {
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 300);
  const result = await run(t, '#!/bin/sh\nsleep 60\n', { signal: controller.signal });
  t.true(result.killed);
  t.false(result.expired);
  t.true(result.durationMs < 2000);
});

test('a descriptor the service inherited does not reach the run: it has 0-2 (and the filter’s 3) alone', async (t) => {
  const secretFolder = await mkdtemp(join(tmpdir(), 'preview-fd-'));
  t.teardown(() => rm(secretFolder, { recursive: true, force: true }));
  const secret = join(secretFolder, 'secret.key');
  await writeFile(secret, 'inherited secret');
  const folder = await freshRunFolder(root, HOST_UID);
  t.teardown(() => removeRunFolder(folder));
  await unpackArchive(
    scriptArtifact(`#!/usr/bin/python3
import os
def is_open(fd):
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False
print(" ".join(str(fd) for fd in range(1024) if is_open(fd)))
try:
    print(os.read(100, 100).decode())
except OSError:
    print("unreadable")
`),
    folder,
    BOUNDS,
  );
  const request = {
    folder,
    entryPoint: 'run',
    args: [],
    seed: 'seed-1',
    limits: LIMITS,
    ...(HOST_UID === undefined ? {} : { hostUid: HOST_UID }),
    seccompFilterPath: filterPath,
  };
  // The shell opens fd 100 without close-on-exec, as a parent of the service might, then becomes node.
  const child = new URL('../../../helpers/sandboxChild.ts', import.meta.url).pathname;
  const { stdout } = await promisify(execFile)('/bin/bash', [
    '-c',
    'exec 100<"$1"; exec "$2" --import=tsx "$3" "$4"',
    'bash',
    secret,
    process.execPath,
    child,
    JSON.stringify(request),
  ]);
  const { output, log } = JSON.parse(stdout) as { output: string; log: string };
  const [listing, rest] = output.split('\n');
  t.true(
    (listing ?? '').split(' ').every((fd) => ['0', '1', '2', '3'].includes(fd)),
    output + log,
  );
  t.is(rest, 'unreadable', output + log);
  t.false(output.includes('inherited secret'));
});

test('sockets of families other than Unix and IP are refused (AF_VSOCK reaches the host whatever the network namespace)', async (t) => {
  const result = await run(
    t,
    `#!/usr/bin/python3
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
def errno_of(value):
    return ctypes.get_errno() if value == -1 else 0
pair = (ctypes.c_int * 2)()
for family in (40, 16, 17, 38):
    print(family, errno_of(libc.socket(family, 1, 0)), errno_of(libc.socketpair(family, 1, 0, pair)))
print("unix", errno_of(libc.socket(1, 1, 0)), errno_of(libc.socketpair(1, 1, 0, pair)))
print("inet", errno_of(libc.socket(2, 1, 0)), errno_of(libc.socket(10, 1, 0)))
`,
  );
  // 97 is EAFNOSUPPORT: vsock, netlink, packet and AF_ALG refused by the filter, Unix and IP allowed.
  t.is(result.text, '40 97 97\n16 97 97\n17 97 97\n38 97 97\nunix 0 0\ninet 0 0\n', result.logText);
});

test('io_uring, kcmp, pidfd_getfd, the NUMA calls, uselib, vhangup and the TIOCSTI/TIOCLINUX ioctls are denied', async (t) => {
  // x86_64 system call numbers; the ioctls on standard input, which without the filter answer ENOTTY.
  const result = await run(
    t,
    `#!/usr/bin/python3
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
def errno_of(value):
    return ctypes.get_errno() if value == -1 else 0
params = ctypes.create_string_buffer(120)
calls = [("io_uring_setup", 425, 4, params), ("io_uring_enter", 426, 0, 0), ("io_uring_register", 427, 0, 0),
         ("kcmp", 312, 1, 1), ("pidfd_getfd", 438, 0, 0), ("mbind", 237, 0, 0), ("move_pages", 279, 0, 0),
         ("migrate_pages", 256, 0, 0), ("uselib", 134, 0, 0), ("vhangup", 153, 0, 0),
         ("TIOCSTI", 16, 0, 0x5412), ("TIOCLINUX", 16, 0, 0x541C)]
for name, number, first, second in calls:
    print(name, errno_of(libc.syscall(number, first, second, 0, 0, 0)))
`,
  );
  const denied = result.text
    .trim()
    .split('\n')
    .filter((line) => !line.endsWith(' 1'));
  t.deepEqual(denied, [], result.text + result.logText);
  t.is(result.text.split('\n').length, 13, result.text + result.logText);
});
