/**
 * `chainbook signers …`: the signer registry and its lifecycle.
 *   export       print the registry in use
 *   add          publish a new public key with deployedAt in the future (signer.registered)
 *   activate     record that the writer now signs with a key whose deployedAt has passed (signer.activated)
 *   retire       set retiredAt (signer.retired)
 *   break-glass  register a short-lived emergency signer (signing.breakglass_used)
 *   hsm-keygen   make a key pair on the PKCS#11 token and print its registry entry
 */
import { createPublicKey } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { AppendEventInput } from '../../../chain/input.ts';
import { isSignatureAlgorithm, SIGNATURE_ALGORITHMS, type SignatureAlgorithm } from '../../../chain/signature.ts';
import type { Signer } from '../../../chain/signer.ts';
import { loadConfig, type Config } from '../../wiring/config.ts';
import { openDatabase, openRuntime, projectionsInline } from '../../wiring/runtime.ts';
import { breakGlass, DEFAULT_BREAKGLASS_WINDOW_MS } from '../../adapters/signers/breakglass.ts';
import { spkiPem } from '../../adapters/signers/der.ts';
import { kmsClient, openKmsSigner } from '../../adapters/signers/kms.ts';
import { generateHsmKeyPair } from '../../adapters/signers/pkcs11.ts';
import { registryFileStore, registryText } from '../../adapters/signers/registryFile.ts';
import { activateSigner, addSigner, retireSigner, type RotationContext } from '../../../chain/rotation.ts';
import { SqlEventStore } from '../../adapters/sql/sqlEventStore.ts';
import { registryFor } from './auditVerify.ts';
import { CodedError } from '../../../domain/errors.ts';
import { EXIT, parseCount, UsageError, writeOut } from './io.ts';

/** Gap between now and the deployedAt hsm-keygen proposes: the key is published before it signs. */
const DEFAULT_PUBLISH_AHEAD_MS = 60 * 60 * 1000;

interface CommonOptions {
  signers?: string;
  chain?: string;
  actor?: string;
}

function configWith(options: CommonOptions): Config {
  const config = loadConfig();
  return options.signers === undefined ? config : { ...config, signersPath: resolve(options.signers) };
}

function parseInstant(value: string, name: string): number {
  if (
    !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(value) ||
    Number.isNaN(Date.parse(value))
  ) {
    throw new UsageError(
      `${name} must be an RFC 3339 time with a zone, e.g. 2026-12-01T00:00:00Z (got ${JSON.stringify(value)})`,
    );
  }
  return Date.parse(value);
}

/** Runs a rotation step with the configured signer (the one in force) appending to the chain. */
async function withRotation(
  options: CommonOptions,
  step: (context: RotationContext) => Promise<unknown>,
): Promise<number> {
  const config = configWith(options);
  const runtime = await openRuntime(config);
  try {
    const chain = options.chain ?? config.defaultChain;
    const result = await step({
      registry: registryFileStore(config.signersPath),
      append: (events) => runtime.store.append(chain, events),
      signerKid: runtime.signer.kid,
      nowMs: Date.now(),
      ...(options.actor === undefined ? {} : { actorId: options.actor }),
    });
    await writeOut(`${JSON.stringify(result)}\n`);
    return EXIT.ok;
  } finally {
    await runtime.close();
  }
}

interface AddOptions extends CommonOptions {
  ifAbsent?: boolean;
  entry?: string;
  kmsKeyId?: string;
  kid?: string;
  alg?: string;
  publicKey?: string;
  deployedAt?: string;
  description?: string;
}

type NewEntry = {
  signer_kid: string;
  algorithm: SignatureAlgorithm;
  public_key_pem: string;
  deployedAt: string;
  retiredAt: null;
  description?: string;
};

/** The public key of a KMS key, read with GetPublicKey and checked against --alg: no copy and paste of key material. */
async function kmsEntry(options: AddOptions): Promise<Record<string, unknown>> {
  if (!isSignatureAlgorithm(options.alg))
    throw new UsageError(`--kms-key-id needs --alg: ${SIGNATURE_ALGORITHMS.join(', ')}`);
  const signer = await openKmsSigner({
    client: kmsClient(loadConfig().signing.kms?.region),
    keyId: options.kmsKeyId!,
    kid: options.kid ?? options.kmsKeyId!,
    algorithm: options.alg,
  });
  try {
    return { public_key_pem: spkiPem(signer.publicKey!), description: `AWS KMS key ${options.kmsKeyId!}` };
  } finally {
    await signer.close();
  }
}

async function entryFrom(options: AddOptions): Promise<NewEntry> {
  const fromFile =
    options.kmsKeyId !== undefined
      ? await kmsEntry(options)
      : options.entry === undefined
        ? {}
        : (JSON.parse(readFileSync(options.entry === '-' ? 0 : options.entry, 'utf8')) as Record<string, unknown>);
  const kid = options.kid ?? fromFile['signer_kid'];
  const algorithm = options.alg ?? fromFile['algorithm'];
  const pem = options.publicKey === undefined ? fromFile['public_key_pem'] : readFileSync(options.publicKey, 'utf8');
  const deployedAt = options.deployedAt ?? fromFile['deployedAt'];
  const description = options.description ?? fromFile['description'];
  if (typeof kid !== 'string') throw new UsageError('--kid (or an --entry with signer_kid) is required');
  if (!isSignatureAlgorithm(algorithm)) throw new UsageError(`--alg must be one of ${SIGNATURE_ALGORITHMS.join(', ')}`);
  if (typeof pem !== 'string')
    throw new UsageError('--public-key <pem file> (or an --entry with public_key_pem) is required');
  if (typeof deployedAt !== 'string')
    throw new UsageError('--deployed-at is required: the time from which the new key may sign');
  parseInstant(deployedAt, '--deployed-at');
  return {
    signer_kid: kid,
    algorithm,
    public_key_pem: pem,
    deployedAt,
    retiredAt: null,
    ...(typeof description === 'string' ? { description } : {}),
  };
}

/**
 * `add --if-absent`: true (and says so) when `entry` is registered as given, so that a rerun of the
 * same add, as scripts/update-signers-from-kms.sh makes, changes nothing; SIGNER_EXISTS when the kid
 * holds another key or algorithm; false when the kid is not registered.
 */
async function alreadyRegistered(registryPath: string, entry: NewEntry): Promise<boolean> {
  if (!existsSync(registryPath)) return false;
  const registered = registryFileStore(registryPath).load().signers.get(entry.signer_kid);
  if (registered === undefined) return false;
  if (registered.algorithm !== entry.algorithm || !registered.publicKey.equals(createPublicKey(entry.public_key_pem)))
    throw new CodedError(
      'SIGNER_EXISTS',
      `signer ${entry.signer_kid} is already in the registry with another ${registered.algorithm === entry.algorithm ? 'public key' : 'algorithm'}`,
    );
  await writeOut(
    `${JSON.stringify({ kid: registered.kid, unchanged: true, deployedAt: registered.deployedAt, retiredAt: registered.retiredAt })}\n`,
  );
  return true;
}

function addCommonOptions(command: Command): Command {
  return command
    .option('-s, --signers <file>', 'registry file (default: CHAINBOOK_SIGNERS or <data dir>/signers.json)')
    .option('--chain <name>', 'chain the change is recorded in (default: CHAINBOOK_CHAIN or main)')
    .option('--actor <name>', 'operator recorded as the actor of the change');
}

interface BreakglassOptions extends CommonOptions {
  justification: string;
  approvedBy: string[];
  validForMinutes: string;
  keyOut?: string;
  hsmLabel?: string;
}

async function runBreakglass(options: BreakglassOptions): Promise<number> {
  const config = configWith(options);
  if ((options.keyOut === undefined) === (options.hsmLabel === undefined))
    throw new UsageError(
      'give exactly one of --key-out <file> (key made here) or --hsm-label <label> (key made on the HSM)',
    );
  const pkcs11 = config.signing.pkcs11;
  if (options.hsmLabel !== undefined && !pkcs11)
    throw new UsageError('--hsm-label needs PKCS11_MODULE, PKCS11_TOKEN_LABEL and PKCS11_PIN');
  // The normal signer is the one that is down: only the database is opened.
  const db = await openDatabase(config);
  try {
    const chain = options.chain ?? config.defaultChain;
    const result = await breakGlass({
      registryPath: config.signersPath,
      justification: options.justification,
      approvedBy: options.approvedBy,
      windowMs: parseCount(options.validForMinutes, '--valid-for-minutes', 1) * 60_000,
      nowMs: Date.now(),
      key:
        options.hsmLabel !== undefined
          ? { kind: 'hsm', settings: pkcs11!, label: options.hsmLabel }
          : { kind: 'file', path: resolve(options.keyOut!) },
      async appendWith(signer: Signer, events: readonly AppendEventInput[]) {
        const store = new SqlEventStore(db, { signer, inline: projectionsInline });
        try {
          return await store.append(chain, events);
        } finally {
          await store.close();
        }
      },
    });
    await writeOut(
      `${JSON.stringify({ kid: result.kid, deployedAt: result.deployedAt, retiredAt: result.retiredAt, events: result.appended.events })}\n`,
    );
    const use =
      options.hsmLabel !== undefined
        ? `SIGNING_BACKEND=pkcs11 PKCS11_KEY_LABEL=${options.hsmLabel}`
        : `SIGNING_BACKEND=breakglass BREAKGLASS_KEY_FILE=${resolve(options.keyOut!)}`;
    process.stderr.write(
      `break-glass signer ${result.kid} valid until ${result.retiredAt}; sign with ${use} SIGNING_KID=${result.kid}. Destroy the key after recovery.\n`,
    );
    return EXIT.ok;
  } finally {
    await db.close();
  }
}

function hsmKeygen(options: { label: string; alg: string; kid?: string; deployedAt?: string }): number {
  const pkcs11 = loadConfig().signing.pkcs11;
  if (!pkcs11) throw new UsageError('hsm-keygen needs PKCS11_MODULE, PKCS11_TOKEN_LABEL and PKCS11_PIN');
  if (!isSignatureAlgorithm(options.alg))
    throw new UsageError(`--alg must be one of ${SIGNATURE_ALGORITHMS.join(', ')}`);
  const deployedAtMs =
    options.deployedAt === undefined
      ? Date.now() + DEFAULT_PUBLISH_AHEAD_MS
      : parseInstant(options.deployedAt, '--deployed-at');
  const publicKey = generateHsmKeyPair(pkcs11, options.label, options.alg);
  const entry = {
    signer_kid: options.kid ?? options.label,
    algorithm: options.alg,
    public_key_pem: spkiPem(publicKey),
    deployedAt: new Date(deployedAtMs).toISOString(),
    retiredAt: null,
    description: `PKCS#11 token ${pkcs11.tokenLabel}, key ${options.label}`,
  };
  process.stdout.write(`${JSON.stringify(entry, null, 2)}\n`);
  return EXIT.ok;
}

type Exit = (code: number) => void;

function registerRotation(signers: Command, exit: Exit): void {
  addCommonOptions(
    signers
      .command('add')
      .description(
        'publish a new signer with deployedAt in the future; records signer.registered, signed by the signer in force',
      ),
  )
    .option('--entry <file>', 'a registry entry as JSON (what hsm-keygen prints); - for standard input')
    .option('--kid <kid>', 'the new signer kid')
    .option('--alg <alg>', `algorithm: ${SIGNATURE_ALGORITHMS.join(', ')}`)
    .option('--public-key <file>', 'its public key, SPKI PEM')
    .option('--deployed-at <time>', 'when it may start signing, RFC 3339, in the future')
    .option('--description <text>', 'what it is for')
    .option('--kms-key-id <id>', 'read the public key of this KMS key (GetPublicKey) instead of --public-key')
    .option(
      '--if-absent',
      'succeed without a change when the registry already holds this kid with the same algorithm and public key (another key is still SIGNER_EXISTS)',
    )
    .action(async (options: AddOptions) => {
      const entry = await entryFrom(options);
      if (options.ifAbsent === true && (await alreadyRegistered(configWith(options).signersPath, entry))) {
        exit(EXIT.ok);
        return;
      }
      exit(await withRotation(options, (context) => addSigner(context, entry)));
    });
  addCommonOptions(
    signers
      .command('activate')
      .description(
        'record that the writer (configured with SIGNING_KID=<kid>) now signs with kid; refused before its deployedAt',
      ),
  )
    .requiredOption('--kid <kid>', 'the signer taking over')
    .action(async (options: CommonOptions & { kid: string }) =>
      exit(await withRotation(options, (context) => activateSigner(context, options.kid))),
    );
  addCommonOptions(
    signers
      .command('retire')
      .description('set retiredAt of a signer (now by default); records signer.retired, signed by the signer in force'),
  )
    .requiredOption('--kid <kid>', 'the signer to retire')
    .option('--at <time>', 'retiredAt, RFC 3339, not in the past (default: now)')
    .action(async (options: CommonOptions & { kid: string; at?: string }) =>
      exit(
        await withRotation(options, (context) =>
          retireSigner(
            context,
            options.kid,
            options.at === undefined ? context.nowMs : parseInstant(options.at, '--at'),
          ),
        ),
      ),
    );
}

function registerEmergencyAndKeys(signers: Command, exit: Exit): void {
  addCommonOptions(
    signers
      .command('break-glass')
      .description(
        'register a short-lived emergency signer (docs/SIGNING.md, Break-glass); records signing.breakglass_used',
      ),
  )
    .requiredOption('--justification <text>', 'why, with the incident reference')
    .requiredOption(
      '--approved-by <name>',
      'an approver (give at least two)',
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option('--valid-for-minutes <n>', 'validity window, at most 240', String(DEFAULT_BREAKGLASS_WINDOW_MS / 60_000))
    .option(
      '--key-out <file>',
      'make the key on this machine and write it here (mode 0600; never inside the repository)',
    )
    .option('--hsm-label <label>', 'make the key on the PKCS#11 token under this label instead')
    .action(async (options: BreakglassOptions) => exit(await runBreakglass(options)));
  signers
    .command('hsm-keygen')
    .description(
      'make a key pair on the PKCS#11 token (PKCS11_MODULE, PKCS11_TOKEN_LABEL, PKCS11_PIN), private key non-extractable; prints its signers.json entry',
    )
    .requiredOption('--label <label>', 'key label on the token (PKCS11_KEY_LABEL to sign with it)')
    .requiredOption('--alg <alg>', `algorithm: ${SIGNATURE_ALGORITHMS.join(', ')}`)
    .option('--kid <kid>', 'registry kid (default: the label)')
    .option('--deployed-at <time>', 'deployedAt of the printed entry (default: an hour from now)')
    .action((options: { label: string; alg: string; kid?: string; deployedAt?: string }) => exit(hsmKeygen(options)));
}

export function registerSigners(program: Command, exit: Exit): void {
  const signers = program.command('signers').description('the signer registry (signers.json) and signer rotation');
  signers
    .command('export')
    .description('print the registry in use as signers.json (public keys only)')
    .option('-s, --signers <file>', 'registry file (default: CHAINBOOK_SIGNERS or <data dir>/signers.json)')
    .action(async (options: { signers?: string }) => {
      await writeOut(registryText(registryFor(options.signers)));
      exit(EXIT.ok);
    });
  registerRotation(signers, exit);
  registerEmergencyAndKeys(signers, exit);
}
