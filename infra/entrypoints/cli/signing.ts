/**
 * `chainbook signing check`: the runbooks' CI gate (their `require_kms_check.sh`). Exit 0 only when
 * the configured signing path (SIGNING_BACKEND) answers and its public key is in the signer registry
 * inside its validity window; otherwise exit 1 naming the reason (SIGNING_UNAVAILABLE,
 * SIGNER_NOT_REGISTERED, SIGNER_KEY_MISMATCH, SIGNER_NOT_YET_DEPLOYED, SIGNER_RETIRED, …), or 2 when
 * the configuration is invalid, REQUIRE_KMS or REQUIRE_SIGNING_PROXY included.
 */
import type { Command } from 'commander';
import { CodedError } from '../../../domain/errors.ts';
import { loadConfig } from '../../wiring/config.ts';
import { checkSigning } from '../../wiring/signing.ts';
import { EXIT } from './io.ts';

async function run(): Promise<number> {
  const config = loadConfig();
  try {
    const found = await checkSigning(config);
    const until = found.retiredAt === null ? 'not retired' : `retired at ${found.retiredAt}`;
    process.stdout.write(
      `signing check: OK: ${found.description} signs as ${found.kid} (${found.algorithm}), ` +
        `registered from ${found.deployedAt}, ${until}\n`,
    );
    return EXIT.ok;
  } catch (error) {
    const reason =
      error instanceof CodedError
        ? `${error.code}: ${error.message}`
        : `SIGNING_UNAVAILABLE: ${error instanceof Error ? error.message : String(error)}`;
    process.stderr.write(`signing check: FAILED: ${reason}\n`);
    return EXIT.failed;
  }
}

export function registerSigning(program: Command, exit: (code: number) => void): void {
  const signing = program.command('signing').description('the signing path of this configuration');
  signing
    .command('check')
    .description(
      'exit 0 only when the configured signer signs a probe that verifies under its registered key, inside its window (the CI gate); 1 naming why not; 2 for an invalid configuration',
    )
    .action(async () => exit(await run()));
}
