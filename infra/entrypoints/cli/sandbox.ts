/**
 * `chainbook sandbox drain | resume | status`: the preview sandbox pool from outside the service
 * (docs/PREVIEWS.md, "Breakout"). `drain` is the first step of the runbook's breakout procedure: every
 * pool on this host stops taking runs within a second (the drain marker in the pool's workspace, read
 * from PREVIEW_SANDBOX_POOL_CONFIG), and every process running as one of the pool's uids is killed now,
 * whether or not the service answers. `resume` removes the marker; `status` says whether it is there.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { DRAIN_MARKER, drainPoolFromOutside, resumePoolFromOutside } from '../../adapters/sandbox/previewPool.ts';
import { loadConfig } from '../../wiring/config.ts';
import { EXIT } from './io.ts';

export function registerSandbox(program: Command, exit: (code: number) => void): void {
  const sandbox = program.command('sandbox').description('the preview sandbox pool (docs/PREVIEWS.md)');
  sandbox
    .command('drain')
    .description(
      'stops every preview pool on this host from taking runs and kills the running ones (breakout procedure: isolate the pool)',
    )
    .action(async () => {
      const { pool } = loadConfig().preview;
      const killed = await drainPoolFromOutside(pool);
      process.stdout.write(`drained: ${pool.workspace}; ${killed} sandboxed process(es) killed\n`);
      exit(EXIT.ok);
    });
  sandbox
    .command('resume')
    .description('lets the preview pools take runs again after a drain')
    .action(async () => {
      const { pool } = loadConfig().preview;
      await resumePoolFromOutside(pool);
      process.stdout.write(`resumed: ${pool.workspace}\n`);
      exit(EXIT.ok);
    });
  sandbox
    .command('status')
    .description('says whether the preview pools of this host are drained (exit 1 when they are)')
    .action(async () => {
      const { pool } = loadConfig().preview;
      const drained = await stat(join(pool.workspace, DRAIN_MARKER)).then(
        () => true,
        () => false,
      );
      process.stdout.write(`${drained ? 'drained' : 'taking runs'}: ${pool.workspace}\n`);
      exit(drained ? EXIT.failed : EXIT.ok);
    });
}
