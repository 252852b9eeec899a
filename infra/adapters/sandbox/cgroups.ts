/**
 * One preview run's cgroups, where the machine offers cgroup v1's memory and pids controllers writable
 * by the service (docs/PREVIEWS.md, "Isolation"): `memory.limit_in_bytes` (resident memory, the run's
 * tmpfs pages included: past it the kernel's OOM killer kills the run) and `pids.max` (every process
 * and thread of the run, whatever its uid). Elsewhere (cgroup v2, or a service that may not create
 * cgroups) runSandboxed relies on prlimit alone. The run's first process moves itself in (the
 * `cgroup.procs` files are given to the run's uid) before it execs prlimit and bubblewrap, so that
 * nothing of the run is ever outside them.
 */
import { chown, mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const V1_ROOT = '/sys/fs/cgroup';
const GROUP = 'chainbook-preview';
const CONTROLLERS = ['memory', 'pids'] as const;
/** rmdir of a cgroup fails while the kernel still counts a process of it: tried this often, this far apart. */
const REMOVE_ATTEMPTS = 20;
const REMOVE_PAUSE_MS = 25;

export interface RunCgroup {
  /** The `cgroup.procs` files the run's first process writes its pid to. */
  procsFiles: string[];
  /** Whether the OOM killer killed a process of the run. */
  oomKilled(): Promise<boolean>;
  /** Kills whatever is left of the run, and removes the cgroups. */
  remove(): Promise<void>;
}

let available: Promise<boolean> | undefined;

/** Whether cgroup v1's memory and pids hierarchies take a group of ours (asked once per process). */
export function cgroupsAvailable(): Promise<boolean> {
  available ??= (async () => {
    try {
      for (const controller of CONTROLLERS) await mkdir(join(V1_ROOT, controller, GROUP), { recursive: true });
      return true;
    } catch {
      return false;
    }
  })();
  return available;
}

async function killAndRemove(folder: string): Promise<void> {
  for (let attempt = 0; attempt < REMOVE_ATTEMPTS; attempt++) {
    const procs = await readFile(join(folder, 'cgroup.procs'), 'utf8').catch(() => '');
    for (const pid of procs.split('\n').filter((line) => line !== '')) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // Gone already.
      }
    }
    try {
      await rmdir(folder);
      return;
    } catch (error) {
      if ((error as { code?: string }).code === 'ENOENT') return;
      await new Promise((resolve) => setTimeout(resolve, REMOVE_PAUSE_MS));
    }
  }
}

/** The cgroups of one run, limits set; undefined where cgroups are not available. */
export async function createRunCgroup(
  name: string,
  limits: { memoryBytes: number; processCount: number },
  ownerUid: number | undefined,
): Promise<RunCgroup | undefined> {
  if (!(await cgroupsAvailable())) return undefined;
  const folders = CONTROLLERS.map((controller) => join(V1_ROOT, controller, GROUP, name));
  const [memory, pids] = folders as [string, string];
  try {
    for (const folder of folders) await mkdir(folder);
    await writeFile(join(memory, 'memory.limit_in_bytes'), String(limits.memoryBytes));
    // Swap would let the run past its memory limit: where memsw is accounted, it is held to the same.
    await writeFile(join(memory, 'memory.memsw.limit_in_bytes'), String(limits.memoryBytes)).catch(() => undefined);
    await writeFile(join(pids, 'pids.max'), String(limits.processCount));
    const procsFiles = folders.map((folder) => join(folder, 'cgroup.procs'));
    if (ownerUid !== undefined) for (const file of procsFiles) await chown(file, ownerUid, ownerUid);
    return {
      procsFiles,
      async oomKilled() {
        const control = await readFile(join(memory, 'memory.oom_control'), 'utf8').catch(() => '');
        return Number(/^oom_kill (\d+)$/mu.exec(control)?.[1] ?? 0) > 0;
      },
      async remove() {
        for (const folder of folders) await killAndRemove(folder);
      },
    };
  } catch {
    for (const folder of folders) await killAndRemove(folder);
    return undefined;
  }
}
