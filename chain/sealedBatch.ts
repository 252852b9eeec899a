/**
 * A planned batch sealed on a head, its signing started: what both commit
 * paths of chain/writer.ts hand to chain/batchCommit.ts. In delegated mode
 * (docs/FORMAT.md section 4b) the batch is led by the signer.delegated record
 * of a session its chain has not seen, on a stream of its own, signed by the
 * registry signer; the session key signs every other record.
 */
import { SIGNER_EVENT_TYPES } from './delegation.ts';
import { ChainError } from './errors.ts';
import { validateAppend, type ValidatedAppend } from './input.ts';
import type { PlanOutcome } from './plan.ts';
import type { ChainHead, RecordSignature } from './record.ts';
import { commitTime, sealBatch, type EventToSeal, type UnsignedRecord } from './seal.ts';
import type { SessionKey, Signer } from './signer.ts';
import { traced, tracedSync, tracingEnabled } from './tracing.ts';

export interface SealedBatch {
  appends: readonly ValidatedAppend[];
  outcomes: PlanOutcome[];
  /** The head the batch was sealed on; its commit moves the head only from this one. */
  base: ChainHead;
  /** The head after the batch. */
  head: ChainHead;
  unsigned: UnsignedRecord[];
  /** Undefined when no append was accepted: nothing to sign or insert. */
  signatures: Promise<RecordSignature[]> | undefined;
  /** The session kid whose signer.delegated record leads this batch (docs/FORMAT.md section 4b). */
  introduces: string | undefined;
}

/** Actor of the records the writer adds itself (signer.delegated). */
export const WRITER_ACTOR = { id: 'service:chainbook-writer', role: 'Service' } as const;

function signingUnavailable(signer: Pick<Signer, 'kid'>, error: unknown): ChainError {
  if (error instanceof ChainError && error.code === 'SIGNING_UNAVAILABLE') return error;
  const reason = error instanceof Error ? error.message : String(error);
  return new ChainError('SIGNING_UNAVAILABLE', `signer ${signer.kid} could not sign: ${reason}`, {
    kid: signer.kid,
    reason,
  });
}

async function signAll(
  signer: Pick<Signer, 'kid' | 'signBatch'>,
  unsigned: readonly UnsignedRecord[],
): Promise<RecordSignature[]> {
  let signatures: RecordSignature[];
  try {
    signatures = await signer.signBatch(unsigned.map((u) => ({ hash: u.hash, preimage: u.preimage })));
  } catch (error) {
    throw signingUnavailable(signer, error);
  }
  if (signatures.length !== unsigned.length) {
    throw signingUnavailable(
      signer,
      new Error(`returned ${signatures.length} signatures for ${unsigned.length} records`),
    );
  }
  return signatures;
}

/** The signer.delegated event introducing `session` in `chain` (docs/FORMAT.md section 4b), on a stream of its own. */
function delegationEvent(chain: string, session: SessionKey): EventToSeal {
  const [event] = validateAppend(chain, [
    {
      stream: `delegation-${chain}.${session.kid}`,
      type: SIGNER_EVENT_TYPES.delegated,
      actor: WRITER_ACTOR,
      data: { ...session.delegation },
    },
  ]).events;
  return { event: event!, version: 1 };
}

/**
 * Signatures for a sealed batch: by the signer itself, or in delegated mode
 * the introducing signer.delegated record (when `introduces`) by the
 * registry signer and every other record by the session key. Started when
 * the batch is sealed and awaited at its commit.
 */
function startSigning(
  signer: Signer,
  session: SessionKey | undefined,
  introduces: boolean,
  unsigned: readonly UnsignedRecord[],
): Promise<RecordSignature[]> {
  const sign = async (): Promise<RecordSignature[]> => {
    if (!session) return signAll(signer, unsigned);
    const delegation = introduces ? await signAll(signer, unsigned.slice(0, 1)) : [];
    const rest = unsigned.slice(delegation.length);
    return [...delegation, ...(rest.length > 0 ? await signAll(session, rest) : [])];
  };
  const signing = tracingEnabled()
    ? traced(
        'chain.sign',
        { 'chainbook.signer.kid': session?.kid ?? signer.kid, 'chainbook.batch.size': unsigned.length },
        sign,
      )
    : sign();
  // A batch invalidated before its commit never awaits its signatures.
  signing.catch(() => undefined);
  return signing;
}

function eventsToSeal(appends: readonly ValidatedAppend[], outcomes: readonly PlanOutcome[]): EventToSeal[] {
  const toSeal: EventToSeal[] = [];
  outcomes.forEach((outcome, index) => {
    if (outcome.kind !== 'accepted') return;
    appends[index]!.events.forEach((event, eventIndex) =>
      toSeal.push({ event, version: outcome.versions[eventIndex]! }),
    );
  });
  return toSeal;
}

function headAfter(base: ChainHead, unsigned: readonly UnsignedRecord[]): ChainHead {
  const last = unsigned[unsigned.length - 1];
  return last
    ? { chain: base.chain, seq: last.payload.seq, hash: last.hash.toString('hex'), ts: last.payload.ts }
    : base;
}

/**
 * Seals the accepted appends of a planned batch on `base` at the clock's
 * commit time, led in delegated mode by the signer.delegated record of a
 * session none of `knownSessions` is, and starts signing.
 */
export function sealPlanned(
  signer: Signer,
  base: ChainHead,
  appends: readonly ValidatedAppend[],
  outcomes: PlanOutcome[],
  nowMs: number,
  newId: () => string,
  knownSessions: readonly (string | undefined)[],
  onHeadHashed?: ((seconds: number, records: number) => void) | undefined,
): SealedBatch {
  const toSeal = eventsToSeal(appends, outcomes);
  if (toSeal.length === 0)
    return { appends, outcomes, base, head: base, unsigned: [], signatures: undefined, introduces: undefined };
  const ts = commitTime(nowMs, base);
  const session = signer.session?.(Date.parse(ts));
  const introduces = session !== undefined && !knownSessions.includes(session.kid) ? session.kid : undefined;
  const started = onHeadHashed ? performance.now() : 0;
  const events = introduces ? [delegationEvent(base.chain, session!), ...toSeal] : toSeal;
  const unsigned = tracingEnabled()
    ? tracedSync('chain.hash', { 'chainbook.batch.size': events.length }, () => sealBatch(base, events, ts, newId))
    : sealBatch(base, events, ts, newId);
  if (onHeadHashed) onHeadHashed((performance.now() - started) / 1000, unsigned.length);
  const signatures = startSigning(signer, session, introduces !== undefined, unsigned);
  return { appends, outcomes, base, head: headAfter(base, unsigned), unsigned, signatures, introduces };
}
