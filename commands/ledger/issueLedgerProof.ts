/**
 * IssueLedgerProof: signs a ledger-range proof (docs/FORMAT.md section 9)
 * over a seq or time range of the chain and records it as
 * `ledger.proof_issued`. The range is read from the chain itself, so anyone
 * holding the chain recomputes range_hash and head_hash (verify-proof).
 */
import { traced } from '../../chain/tracing.ts';
import { z } from 'zod';
import { sha256Hex } from '../../chain/hash.ts';
import { MAX_PAGE_RECORDS } from '../../chain/limits.ts';
import {
  LEDGER_PROOF_KIND,
  LedgerRangeHasher,
  signProof,
  type ProofPayload,
  type SignedProof,
} from '../../chain/proof.ts';
import { assert, CodedError } from '../../domain/errors.ts';
import { timestampSchema } from '../../domain/schemas.ts';
import { MAX_PROOF_ROWS, type ProofIssued } from '../../domain/ledger/ledgerEvents.ts';
import { proofDecider, type ProofCommand } from '../../domain/ledger/proofDecider.ts';
import { streams } from '../../domain/streams.ts';
import {
  entityId,
  execute,
  loadStream,
  parseInput,
  type CommandContext,
  type CommandDeps,
  type CommandResult,
} from '../command.ts';
import { entityIdSchema } from '../decideStream.ts';

/**
 * A bound of the time range: compared with the commit times in the database,
 * which has no year 0000 (ISO 8601's 1 BC; PostgreSQL refuses it, and no
 * record can carry it), so that year is refused here rather than there.
 */
const timeBoundSchema = timestampSchema.refine((ts) => !ts.startsWith('0000-'), {
  message: 'year 0000 is not a time the chain can hold; the earliest is 0001-01-01T00:00:00.000Z',
});

export const issueLedgerProofInputSchema = z
  .strictObject({
    proofId: entityIdSchema.optional(),
    fromSeq: z.number().int().positive().optional(),
    toSeq: z.number().int().positive().optional(),
    fromTs: timeBoundSchema.optional(),
    toTs: timeBoundSchema.optional(),
  })
  .refine(
    (input) =>
      (input.fromTs === undefined && input.toTs === undefined) ||
      (input.fromSeq === undefined && input.toSeq === undefined),
    {
      message: 'give a seq range or a time range, not both',
    },
  );

interface SeqRange {
  fromSeq: number;
  toSeq: number;
}

async function resolveRange(deps: CommandDeps, input: z.infer<typeof issueLedgerProofInputSchema>): Promise<SeqRange> {
  const head = await deps.store.head(deps.chain);
  if (input.fromTs !== undefined || input.toTs !== undefined) {
    // A bound left out is no bound (not a sentinel date: '0000-01-01' was one, which PostgreSQL refuses).
    const range = await deps.chainIndex.seqRange(deps.chain, input.fromTs, input.toTs);
    if (!range)
      throw new CodedError(
        'PROOF_RANGE_EMPTY',
        `no record of chain ${deps.chain} was committed in that time range`,
        {},
      );
    return range;
  }
  const range = { fromSeq: input.fromSeq ?? 1, toSeq: input.toSeq ?? head.seq };
  if (range.toSeq < range.fromSeq || range.toSeq > head.seq || head.seq === 0) {
    throw new CodedError(
      'PROOF_RANGE_INVALID',
      `seq range ${range.fromSeq}..${range.toSeq} is not within the chain (1..${head.seq})`,
      { ...range, headSeq: head.seq },
    );
  }
  return range;
}

/** The unsigned payload over the range, read from the chain in bounded pages. */
export async function rangePayload(
  deps: CommandDeps,
  range: SeqRange,
  proofId: string,
  now: string,
): Promise<ProofPayload> {
  const hasher = new LedgerRangeHasher();
  let fromTs = '';
  let last: { ts: string; hash: string; seq: number } | undefined;
  for (let next = range.fromSeq; next <= range.toSeq;) {
    const page = await deps.store.readChain(deps.chain, { fromSeq: next, toSeq: range.toSeq, limit: MAX_PAGE_RECORDS });
    if (page.length === 0) break;
    for (const { record } of page) {
      if (record.seq === range.fromSeq) fromTs = record.ts;
      hasher.add(record);
      last = record;
    }
    if (hasher.rowIds.length > MAX_PROOF_ROWS)
      throw new CodedError('PROOF_RANGE_TOO_LARGE', `a proof covers at most ${MAX_PROOF_ROWS} ledger rows`, {});
    next = page[page.length - 1]!.record.seq + 1;
  }
  assert(
    last !== undefined && last.seq === range.toSeq && fromTs !== '',
    `records ${range.fromSeq}..${range.toSeq} are not all readable`,
  );
  return {
    proof_id: proofId,
    kind: LEDGER_PROOF_KIND,
    chain: deps.chain,
    from_seq: range.fromSeq,
    to_seq: range.toSeq,
    from_ts: fromTs,
    to_ts: last.ts,
    ledger_row_ids: hasher.rowIds,
    range_hash: hasher.digest(),
    head_hash: last.hash,
    ts: now,
    signer_kid: deps.signer.kid,
    alg: deps.signer.algorithm,
  };
}

export function issuedEvent(proof: SignedProof): ProofIssued {
  return {
    proofId: proof.proof_id,
    kind: LEDGER_PROOF_KIND,
    chain: proof.chain,
    fromSeq: proof.from_seq,
    toSeq: proof.to_seq,
    fromTs: proof.from_ts,
    toTs: proof.to_ts,
    rangeHash: proof.range_hash,
    headHash: proof.head_hash,
    ledgerRowCount: proof.ledger_row_ids.length,
    signerKid: proof.signer_kid,
    alg: proof.alg,
    signature: proof.signature,
    payloadSha256: sha256Hex(proof.canonical_payload),
    proofTs: proof.ts,
  };
}

/** Issues a signed ledger proof of a range (the finance runbook's proof generation), traced as `ledger.proof`. */
export function issueLedgerProof(
  deps: CommandDeps,
  input: unknown,
  context: CommandContext,
): Promise<CommandResult & { proof?: SignedProof }> {
  return traced('ledger.proof', {}, () => issue(deps, input, context));
}

async function issue(
  deps: CommandDeps,
  input: unknown,
  context: CommandContext,
): Promise<CommandResult & { proof?: SignedProof }> {
  const parsed = parseInput(issueLedgerProofInputSchema, input);
  const proofId = entityId(context, parsed.proofId, 'proof');
  const result = await execute(deps, context, { operation: 'issueLedgerProof', input }, async () => {
    const loaded = await loadStream(deps.store, streams.proof(proofId), proofDecider, ['ledger.proof_issued']);
    const range = await resolveRange(deps, parsed);
    const payload = await rangePayload(deps, range, proofId, context.now);
    const command = (signed: SignedProof): ProofCommand => ({
      type: 'RecordProof',
      actor: context.actor,
      proof: issuedEvent(signed),
    });
    // Decide once unsigned: nothing is signed for a proof that would be refused.
    proofDecider.decide(command({ ...payload, canonical_payload: '', signature: 'unsigned' }), loaded.state);
    const proof = await signProof(payload, deps.signer);
    return {
      appends: [
        {
          stream: loaded.stream,
          expectedVersion: loaded.version,
          events: proofDecider.decide(command(proof), loaded.state),
        },
      ],
      answer: { proof },
    };
  });
  // Kept once recorded (a retry keeps it again, which changes nothing): GET /ledger/proofs/{id} and audit bundles serve it.
  if (result.proof) await deps.proofs.save(result.proof);
  return result;
}
