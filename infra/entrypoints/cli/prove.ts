/**
 * The Merkle tree's commands (docs/FORMAT.md section 14):
 *   chainbook checkpoint                    makes a checkpoint when one is due, prints the latest
 *   chainbook prove --seq N                 the inclusion proof file of record N
 *   chainbook prove --consistency OLD NEW   the consistency proof between two tree sizes (JSON)
 *   chainbook tree backfill [--chain C]     builds the stored tree of chains older than it
 *   chainbook verify-inclusion FILE --public-key PEM --kid NAME
 *                                           checks a proof file offline
 * Exit codes as everywhere: 0 ok, 1 refused or not proven, 2 could not run.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { toBase64 } from '../../../chain/checkpoint.ts';
import {
  COSIGNATURE_ED25519,
  formatVerifierKey,
  NOTE_ED25519_TYPE,
  parseVerifierKey,
  verifiedCosignatures,
  type NoteVerifierKey,
} from '../../../chain/cosignature.ts';
import { sha256 } from '../../../chain/hash.ts';
import { ChainError } from '../../../chain/errors.ts';
import { validateChainName } from '../../../chain/input.ts';
import { formatTlogProof, MAX_PROOF_FILE_BYTES, parseTlogProof } from '../../../chain/proofFile.ts';
import { proveConsistency, proveInclusion, rootAt } from '../../../chain/treeLog.ts';
import { verifyInclusionFile, verifyRawEd25519 } from '../../../verifier/verifyInclusion.ts';
import { chainNames, recordTextAt } from '../../adapters/sql/eventLog.ts';
import { backfillTree } from '../../adapters/sql/treeBackfill.ts';
import { checkpointing, type Checkpointing } from '../../wiring/checkpoints.ts';
import { loadConfig } from '../../wiring/config.ts';
import { openRuntime, type Runtime } from '../../wiring/runtime.ts';
import { EXIT, parseCount, UsageError, writeOut } from './io.ts';

interface ProveOptions {
  chain?: string;
  seq?: string;
  consistency?: string[];
  out?: string;
}

async function withTree<T>(
  chainOption: string | undefined,
  work: (runtime: Runtime, tree: Checkpointing, chain: string) => Promise<T>,
): Promise<T> {
  const config = loadConfig();
  const chain = chainOption ?? config.defaultChain;
  validateChainName(chain);
  // Reading the tree and signing a checkpoint: no projection is folded here.
  const runtime = await openRuntime(config, { projections: false });
  try {
    await runtime.store.head(chain);
    return await work(runtime, checkpointing(runtime), chain);
  } finally {
    await runtime.close();
  }
}

async function proveSeq(runtime: Runtime, tree: Checkpointing, chain: string, seq: number): Promise<string> {
  await tree.makeIfDue(chain, Date.now());
  const checkpoint = await tree.storage.checkpointCovering(chain, seq, tree.quorum);
  if (!checkpoint) {
    const latest = await tree.published(chain);
    throw new ChainError(
      'CHECKPOINT_NOT_FOUND',
      `no checkpoint of ${chain} covers seq ${seq} yet (latest: ${latest ? `size ${latest.size}` : 'none'}); one is made at most every CHECKPOINT_INTERVAL`,
      { chain, seq },
    );
  }
  const record = await recordTextAt(runtime.db, chain, seq);
  if (record === undefined) throw new ChainError('TREE_SIZE_OUT_OF_RANGE', `${chain} has no record ${seq}`, { seq });
  const hashes = await proveInclusion(tree.storage, chain, seq - 1, checkpoint.size);
  return formatTlogProof({ record, index: seq - 1, hashes, checkpoint: checkpoint.note });
}

async function proveSizes(tree: Checkpointing, chain: string, first: number, second: number): Promise<string> {
  const proof = await proveConsistency(tree.storage, chain, first, second);
  const [firstRoot, secondRoot] = [await rootAt(tree.storage, chain, first), await rootAt(tree.storage, chain, second)];
  const document = {
    chain,
    origin: tree.origin(chain),
    oldSize: first,
    newSize: second,
    oldRoot: toBase64(firstRoot),
    newRoot: toBase64(secondRoot),
    proof: proof.map(toBase64),
  };
  return `${JSON.stringify(document, null, 2)}\n`;
}

async function prove(options: ProveOptions): Promise<number> {
  const bySeq = options.seq !== undefined;
  const bySizes = options.consistency !== undefined;
  if (bySeq === bySizes) throw new UsageError('give --seq N or --consistency OLD NEW');
  if (bySizes && options.consistency!.length !== 2) throw new UsageError('--consistency takes two tree sizes');
  const text = await withTree(options.chain, (runtime, tree, chain) =>
    bySeq
      ? proveSeq(runtime, tree, chain, parseCount(options.seq!, '--seq', 1))
      : proveSizes(
          tree,
          chain,
          parseCount(options.consistency![0]!, 'OLD', 1),
          parseCount(options.consistency![1]!, 'NEW', 1),
        ),
  );
  if (options.out) writeFileSync(options.out, text);
  else await writeOut(text);
  return EXIT.ok;
}

async function backfill(options: { chain?: string }): Promise<number> {
  const config = loadConfig();
  if (options.chain !== undefined) validateChainName(options.chain);
  const runtime = await openRuntime(config, { projections: false });
  try {
    const chains = options.chain !== undefined ? [options.chain] : await chainNames(runtime.db);
    for (const chain of chains) {
      const report = await backfillTree(runtime.db, chain, (progress) =>
        process.stderr.write(`tree ${progress.chain}: ${progress.treeSize} of ${progress.headSeq} leaves\n`),
      );
      await writeOut(
        report.steps === 0 && report.fromSize === report.treeSize
          ? `tree ${chain}: ${report.treeSize} leaves, the chain's head: nothing to do\n`
          : `tree ${chain}: ${report.fromSize} -> ${report.treeSize} leaves in ${report.steps} steps (head ${report.headSeq})\n`,
      );
    }
    return EXIT.ok;
  } finally {
    await runtime.close();
  }
}

async function checkpoint(options: { chain?: string; vkey?: boolean }): Promise<number> {
  const note = await withTree(options.chain, async (_runtime, tree, chain) => {
    if (!tree.key)
      throw new ChainError(
        'CHECKPOINT_SIGNER_UNSUPPORTED',
        'checkpoints are signed with an Ed25519 or ECDSA P-256 signer only (RSA has no signed-note signature type)',
        {},
      );
    // The key a witness configures for this log (WITNESS_LOGS): `<origin>=<vkey>`, of type 0x01 or 0x02.
    if (options.vkey)
      return `${tree.origin(chain)}=${formatVerifierKey(sha256, tree.key.name, tree.key.type ?? NOTE_ED25519_TYPE, tree.key.publicKey)}\n`;
    // A new checkpoint if one is due, else the witnesses missing from the latest are asked again.
    if ((await tree.makeIfDue(chain, Date.now())) === undefined) await tree.cosignLatest(chain);
    return (await tree.published(chain))?.note;
  });
  if (note === undefined) {
    process.stderr.write(
      'chainbook checkpoint: no checkpoint published yet (the tree is empty, or none has CHECKPOINT_WITNESS_QUORUM cosignatures)\n',
    );
    return EXIT.failed;
  }
  await writeOut(note);
  return EXIT.ok;
}

function readKey(path: string): KeyObject {
  try {
    return createPublicKey(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new UsageError(`--public-key ${path}: not a readable public key (${(error as Error).message})`);
  }
}

interface VerifyFileOptions {
  publicKey: string;
  kid: string;
  origin?: string;
  witness?: string[];
  witnessQuorum?: string;
}

/** The witnesses given and how many of them must have cosigned the proof's checkpoint (default: all). */
function witnessPolicy(options: VerifyFileOptions): { keys: NoteVerifierKey[]; quorum: number } {
  const keys = (options.witness ?? []).map((vkey) => {
    const key = parseVerifierKey(sha256, vkey);
    if (!key || key.type !== COSIGNATURE_ED25519)
      throw new UsageError(`--witness ${vkey}: not a cosignature/v1 Ed25519 verifier key (type 0x04)`);
    return key;
  });
  const quorum =
    options.witnessQuorum === undefined ? keys.length : parseCount(options.witnessQuorum, '--witness-quorum', 0);
  if (quorum > keys.length) throw new UsageError(`--witness-quorum ${quorum}: more than the witnesses given`);
  return { keys, quorum };
}

async function verifyFile(file: string, options: VerifyFileOptions): Promise<number> {
  const key = readKey(options.publicKey);
  const witnesses = witnessPolicy(options);
  let text: string;
  try {
    const bytes = readFileSync(file);
    if (bytes.length > MAX_PROOF_FILE_BYTES) throw new Error(`larger than ${MAX_PROOF_FILE_BYTES} bytes`);
    text = bytes.toString('utf8');
  } catch (error) {
    throw new UsageError(`${file}: cannot read it (${(error as Error).message})`);
  }
  const report = verifyInclusionFile(text, { name: options.kid, publicKey: key }, options.origin);
  if (!report.ok) {
    process.stdout.write(`NOT PROVEN: ${report.reason}\n`);
    return EXIT.failed;
  }
  const cosigned = verifiedCosignatures(parseTlogProof(text)!.checkpoint, witnesses.keys, verifyRawEd25519);
  if (cosigned.length < witnesses.quorum) {
    process.stdout.write(
      `NOT PROVEN: ${cosigned.length} of the ${witnesses.quorum} witness cosignatures required verify on the checkpoint\n`,
    );
    return EXIT.failed;
  }
  process.stdout.write(
    `OK: record ${report.seq} of ${report.chain} (hash ${report.hash}) is in the tree of ${report.treeSize} leaves of ${report.origin}${cosigned.length > 0 ? `, cosigned by ${cosigned.map((c) => c.name).join(', ')}` : ''}\n`,
  );
  return EXIT.ok;
}

export function registerProve(program: Command, exit: (code: number) => void): void {
  program
    .command('prove')
    .description(
      'an inclusion proof file of record N (C2SP tlog-proof, against the least checkpoint covering it), or a consistency proof between two tree sizes (JSON)',
    )
    .option('--chain <name>', 'the chain (default CHAINBOOK_CHAIN or main)')
    .option('--seq <n>', 'the record to prove')
    .option('--consistency <sizes...>', 'OLD NEW: two tree sizes')
    .option('--out <file>', 'write the proof here instead of stdout')
    .action(async (options: ProveOptions) => exit(await prove(options)));
  program
    .command('checkpoint')
    .description('make a checkpoint of the chain if one is due (CHECKPOINT_INTERVAL), and print the latest')
    .option('--chain <name>', 'the chain (default CHAINBOOK_CHAIN or main)')
    .option('--vkey', "print the chain's origin and checkpoint verifier key, as a witness's WITNESS_LOGS takes them")
    .action(async (options: { chain?: string; vkey?: boolean }) => exit(await checkpoint(options)));
  program
    .command('tree')
    .description('the Merkle tree of the chains (docs/FORMAT.md section 14)')
    .command('backfill')
    .description(
      'build the stored tree of chains whose records predate it (migration 0011) up to their heads, in steps of 4,096 records; idempotent and resumable (serve does it at start)',
    )
    .option('--chain <name>', 'only this chain (default: every chain)')
    .action(async (options: { chain?: string }) => exit(await backfill(options)));
  program
    .command('verify-inclusion <file>')
    .description(
      'check an inclusion proof file offline: the checkpoint signature, the record hash, the proof to the root',
    )
    .requiredOption('--public-key <pem>', "the checkpoint signer's public key, Ed25519 or ECDSA P-256 (PEM)")
    .requiredOption('--kid <name>', "the checkpoint signer's kid (the note key's name)")
    .option('--origin <origin>', 'require this origin line (e.g. chainbook/main)')
    .option(
      '--witness <vkey...>',
      "witnesses' verifier keys (cosignature/v1) whose cosignatures on the checkpoint count",
    )
    .option('--witness-quorum <n>', 'cosignatures by those witnesses required (default: all of them)')
    .action(async (file: string, options: VerifyFileOptions) => exit(await verifyFile(file, options)));
}
