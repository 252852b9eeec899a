/**
 * Configuration from the environment, validated at start with one message per
 * bad variable, naming it. The README's configuration table lists them all.
 */
import { resolve } from 'node:path';
import { z } from 'zod';
import { CodedError } from '../domain/errors.ts';
import { CHAIN_NAME_PATTERN } from '../chain/record.ts';

export interface Config {
  nodeEnv: string;
  production: boolean;
  /** PostgreSQL; undefined means the embedded PGlite in dataDir. */
  databaseUrl: string | undefined;
  dataDir: string;
  /** The signer registry in use (signers.json). */
  signersPath: string;
  /** Read-only mode on purpose: appends are refused with this reason. */
  signingDisabledReason: string | undefined;
  defaultChain: string;
}

export class ConfigError extends CodedError {
  constructor(problems: readonly string[]) {
    super('INVALID_CONFIGURATION', `invalid configuration:\n  - ${problems.join('\n  - ')}`, { problems });
  }
}

const optionalText = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value.trim() === '' ? undefined : value));

const schema = z.object({
  NODE_ENV: optionalText,
  DATABASE_URL: optionalText.refine((value) => value === undefined || /^postgres(ql)?:\/\//.test(value), {
    message: 'must be a postgres:// or postgresql:// URL',
  }),
  CHAINBOOK_DATA_DIR: optionalText,
  CHAINBOOK_SIGNERS: optionalText,
  SIGNING_DISABLED_REASON: optionalText,
  CHAINBOOK_CHAIN: optionalText.refine((value) => value === undefined || CHAIN_NAME_PATTERN.test(value), {
    message: `must match ${CHAIN_NAME_PATTERN.source}`,
  }),
});

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`));
  }
  const values = parsed.data;
  const nodeEnv = values.NODE_ENV ?? 'development';
  const dataDir = resolve(values.CHAINBOOK_DATA_DIR ?? '.chainbook');
  return {
    nodeEnv,
    production: nodeEnv === 'production',
    databaseUrl: values.DATABASE_URL,
    dataDir,
    signersPath: resolve(values.CHAINBOOK_SIGNERS ?? `${dataDir}/signers.json`),
    signingDisabledReason: values.SIGNING_DISABLED_REASON,
    defaultChain: values.CHAINBOOK_CHAIN ?? 'main',
  };
}
