/**
 * RunPayouts: one payout per party and currency whose payables (less what it
 * owes the platform) reach the minimum. Each payout is its own stream,
 * `payout-<payoutId>`, appended with its ledger posting (payables → payouts
 * in transit), then handed to the payout provider; those it accepted are
 * recorded so (`payout.submitted`, one append per chunk), the others stay
 * unaccepted until finance resubmits them (commands/payouts/resubmitPayout.ts).
 * The payables are read
 * from the ledger's balances; a payable that moved since is caught by the
 * must-not-go-negative rule in the append, so a run never pays more than the
 * payable holds. Run again, it finds nothing left to pay and appends nothing.
 */
import { z } from 'zod';
import { sha256Hex } from '../../chain/hash.ts';
import { MAX_EVENTS_PER_APPEND } from '../../chain/limits.ts';
import { assert, CodedError } from '../../domain/errors.ts';
import { requireCurrency } from '../../domain/money.ts';
import { payoutDecider } from '../../domain/payouts/payoutDecider.ts';
import { payoutEventSchemas, type PayoutInitiated } from '../../domain/payouts/payoutEvents.ts';
import { planPayouts, type PlannedPayout } from '../../domain/payouts/payoutPlan.ts';
import { initiationPosting, payoutTransactionIds } from '../../domain/payouts/payoutPostings.ts';
import { amountSchema, currencySchema } from '../../domain/schemas.ts';
import { streams } from '../../domain/streams.ts';
import {
  entityId,
  execute,
  loadStream,
  parseInput,
  type CommandContext,
  type CommandDeps,
  type CommandResult,
  type StreamAppend,
} from '../command.ts';
import { decideStream, entityIdSchema, typesOf } from '../decideStream.ts';
import { decidePosting } from '../ledger/postLedgerTransaction.ts';
import { refusalReason, type PayoutProvider } from './payoutProvider.ts';

export const PAYOUT_EVENT_TYPES = typesOf(payoutEventSchemas);
/** Payouts appended together: two events each (the payout and its posting), within MAX_EVENTS_PER_APPEND. */
export const MAX_PAYOUTS_PER_APPEND = 40;
/** Payouts one run makes at most; a larger backlog is paid by the next run. */
export const MAX_PAYOUTS_PER_RUN = 10_000;
/** The minimum when PAYOUT_MINIMUM_MINOR is not set (a run's input may give its own). */
export const DEFAULT_PAYOUT_MINIMUM_MINOR = 1;
assert(MAX_PAYOUTS_PER_APPEND * 2 <= MAX_EVENTS_PER_APPEND, 'a chunk of payouts fits in one append');

export const runPayoutsInputSchema = z.strictObject({
  runId: entityIdSchema.optional(),
  /** Only this currency; every currency when absent. */
  currency: currencySchema.optional(),
  /** Pay a party only when it is owed at least this much (minor units). */
  minimumMinor: amountSchema.optional(),
});

export interface PayoutSummary {
  payoutId: string;
  partyId: string;
  currency: string;
  amountMinor: number;
  nettedMinor: number;
  /** Whether the payout provider accepted it; false leaves it initiated, its money in transit. */
  submitted: boolean;
  /** Why the provider did not accept it, when it did not (PayoutRefusal's words, docs/DOMAIN.md "Payouts"). */
  refusal?: string;
}

export type RunPayoutsResult = CommandResult & { runId: string; payouts: PayoutSummary[] };

/** A payout's id: derived from the run, the party and the currency, so a retried run names the same payouts. */
export function payoutIdOf(runId: string, partyId: string, currency: string): string {
  return `po-${sha256Hex(`${runId}\n${partyId}\n${currency}`).slice(0, 32)}`;
}

function payoutOf(runId: string, planned: PlannedPayout): PayoutInitiated {
  const payoutId = payoutIdOf(runId, planned.partyId, planned.currency);
  return {
    payoutId,
    runId,
    partyId: planned.partyId,
    currency: planned.currency,
    amountMinor: planned.amountMinor,
    sources: planned.sources,
    nettedMinor: planned.nettedMinor,
    ledgerTransactionId: payoutTransactionIds.initiation(payoutId),
  };
}

/** The appends of one chunk: each payout not yet recorded, with its posting. */
async function decideChunk(
  deps: CommandDeps,
  context: CommandContext,
  payouts: readonly PayoutInitiated[],
  attempt: number,
): Promise<StreamAppend[]> {
  const appends: StreamAppend[] = [];
  for (const payout of payouts) {
    const stream = streams.payout(payout.payoutId);
    const loaded = await loadStream(deps.store, stream, payoutDecider, PAYOUT_EVENT_TYPES);
    // Recorded by an earlier attempt of this run: its payables are already in transit.
    if (loaded.state.status !== 'absent') continue;
    appends.push(
      await decideStream(deps.store, stream, payoutDecider, PAYOUT_EVENT_TYPES, {
        type: 'InitiatePayout',
        actor: context.actor,
        payout,
      }),
      await decidePosting(deps, context.actor, initiationPosting(payout), { assumeNew: attempt === 0 }),
    );
  }
  return appends;
}

/** What the provider answered each payout of a chunk: what it made for it, or why it did not take it. */
type Submission = { accepted: true; reference?: string | undefined } | { accepted: false; refusal: string };

/** payout.submitted for each payout the provider accepted, unless its answer (a quick webhook) came first. */
async function decideSubmissions(
  deps: CommandDeps,
  context: CommandContext,
  payouts: readonly PayoutInitiated[],
  submissions: ReadonlyMap<string, Submission>,
): Promise<StreamAppend[]> {
  const appends: StreamAppend[] = [];
  for (const payout of payouts) {
    const stream = streams.payout(payout.payoutId);
    const loaded = await loadStream(deps.store, stream, payoutDecider, PAYOUT_EVENT_TYPES);
    if (loaded.state.status !== 'initiated' || loaded.state.submitted) continue;
    appends.push(
      await decideStream(deps.store, stream, payoutDecider, PAYOUT_EVENT_TYPES, {
        type: 'SubmitPayout',
        actor: context.actor,
        provider: deps.payouts.provider.name,
        providerReference: referenceOf(submissions.get(payout.payoutId)),
      }),
    );
  }
  return appends;
}

function referenceOf(submission: Submission | undefined): string | undefined {
  return submission?.accepted === true ? submission.reference : undefined;
}

/**
 * Records the acceptances of one chunk. The money has gone to the provider by
 * then, so a refused append (signing down) does not fail the run: those
 * payouts stay unaccepted in the chain, and resubmitting them records it (the
 * provider takes the payout id as its idempotency key, so it pays once).
 */
async function recordSubmissions(
  deps: CommandDeps,
  context: CommandContext,
  input: unknown,
  accepted: readonly PayoutInitiated[],
  submissions: ReadonlyMap<string, Submission>,
): Promise<CommandResult | undefined> {
  if (accepted.length === 0) return undefined;
  try {
    return await execute(deps, context, { operation: 'runPayouts', input }, () =>
      decideSubmissions(deps, context, accepted, submissions),
    );
  } catch (error) {
    if (error instanceof CodedError) return undefined;
    throw error;
  }
}

async function submitAll(
  provider: PayoutProvider,
  payouts: readonly PayoutInitiated[],
): Promise<Map<string, Submission>> {
  const submissions = new Map<string, Submission>();
  for (const payout of payouts) {
    try {
      const { reference } = await provider.submit(payout);
      submissions.set(payout.payoutId, { accepted: true, reference });
    } catch (error) {
      // Left initiated: the provider's answer, or a retry of the submission, decides it later.
      submissions.set(payout.payoutId, { accepted: false, refusal: refusalReason(provider.name, error) });
    }
  }
  return submissions;
}

export async function runPayouts(
  deps: CommandDeps,
  input: unknown,
  context: CommandContext,
): Promise<RunPayoutsResult> {
  const parsed = parseInput(runPayoutsInputSchema, input);
  if (!deps.payouts.provider.accepting)
    throw new CodedError(
      'PAYOUT_PROVIDER_NOT_CONFIGURED',
      `no payout provider is configured (PAYOUT_PROVIDER=${deps.payouts.provider.name}): nothing was recorded`,
    );
  if (parsed.currency !== undefined) requireCurrency(parsed.currency, 'INVALID_CURRENCY');
  const minimumMinor = parsed.minimumMinor ?? deps.payouts.minimumMinor;
  const runId = entityId(context, parsed.runId, 'payout-run');
  // Each chunk is its own append; the run's key named the run, the chunks need none.
  const chunkContext: CommandContext = { ...context, idempotencyKey: undefined };
  const result: RunPayoutsResult = {
    chain: deps.chain,
    seqs: [],
    events: [],
    versions: {},
    replayed: false,
    runId,
    payouts: [],
  };
  let after: string | undefined;
  for (let seen = 0; seen < MAX_PAYOUTS_PER_RUN; seen += MAX_PAYOUTS_PER_APPEND) {
    // Parties an open discrepancy holds are skipped (docs/DOMAIN.md, "Reconciliation"); what orders on hold put in
    // the payables stays there (docs/DOMAIN.md, "Payouts"). Read for each chunk: a long run sees a hold placed while
    // it pays.
    const heldParties = await deps.ledger.heldParties();
    const heldPayables = await deps.ledger.heldOrderPayables();
    const payees = await deps.ledger.payees({ currency: parsed.currency, after, limit: MAX_PAYOUTS_PER_APPEND });
    const payouts = planPayouts(payees, { minimumMinor, heldParties, heldPayables }).map((planned) =>
      payoutOf(runId, planned),
    );
    if (payouts.length > 0) {
      const chunk = await execute(deps, chunkContext, { operation: 'runPayouts', input }, (attempt) =>
        decideChunk(deps, chunkContext, payouts, attempt),
      );
      const recorded = new Set(chunk.events.filter((e) => e.type === 'payout.initiated').map((e) => e.stream));
      const fresh = payouts.filter((payout) => recorded.has(streams.payout(payout.payoutId)));
      const answers = await submitAll(deps.payouts.provider, fresh);
      const accepted = fresh.filter((payout) => answers.get(payout.payoutId)?.accepted === true);
      const submissions = await recordSubmissions(deps, chunkContext, input, accepted, answers);
      for (const appended of submissions ? [chunk, submissions] : [chunk]) {
        result.seqs.push(...appended.seqs);
        result.events.push(...appended.events);
        Object.assign(result.versions, appended.versions);
      }
      for (const payout of fresh) {
        const answer = answers.get(payout.payoutId);
        result.payouts.push({
          payoutId: payout.payoutId,
          partyId: payout.partyId,
          currency: payout.currency,
          amountMinor: payout.amountMinor,
          nettedMinor: payout.nettedMinor,
          submitted: answer?.accepted === true,
          ...(answer?.accepted === false ? { refusal: answer.refusal } : {}),
        });
      }
    }
    const last = payees[payees.length - 1];
    if (payees.length < MAX_PAYOUTS_PER_APPEND || last === undefined) break;
    after = `${last.partyId} ${last.currency}`;
  }
  return result;
}
