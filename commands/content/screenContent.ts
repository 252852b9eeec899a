/**
 * Screening a submission's content before it is recorded (docs/DOMAIN.md,
 * "Content inspection"): the inspector classifies it, and each submission
 * gets exactly one signed decision record in the chain, on its own stream
 * `content-<inspectionId>`, carrying the tier, labels and plugin results but
 * never the content.
 *
 * - CLEAR: `content.passed` is appended in the same transaction as the
 *   submission's own events, so that neither is recorded without the other.
 * - BLOCK: the submission is refused with CONTENT_BLOCKED and the plugin's
 *   reason; `content.blocked` is appended alone, and nothing else changes
 *   (the manifest or listing streams and every projection stay as they were).
 * - QUARANTINE: the content is encrypted into the quarantine store,
 *   `content.quarantined` is appended alone, and the submission is refused
 *   with CONTENT_QUARANTINED: it is held for a moderator and does not exist
 *   in the catalog, so it can be neither approved nor listed. After a
 *   moderator releases it, the publisher submits the same content again and
 *   it passes as released (`moderation.released`), for the same publisher and
 *   kind of content only, once: the release is used up (a submission refused
 *   after it had claimed the release needs a moderator again). With quarantine off (QUARANTINE_ENABLED=false),
 *   QUARANTINE falls back to BLOCK, recorded with `quarantineDisabled`.
 */
import { createHash } from 'node:crypto';
import type { ContentDecision } from '../../domain/content/contentEvents.ts';
import { contentDeciderFor } from '../../domain/content/contentDecider.ts';
import { CodedError } from '../../domain/errors.ts';
import { streams } from '../../domain/streams.ts';
import { appendAlone, type CommandContext, type CommandDeps, type StreamAppend } from '../command.ts';
import { decisiveResult, type ContentSubject, type InspectionResult, type Inspector, type Tier } from './inspector.ts';

/** The default of INSPECTION_MAX_BYTES: the beginning of an artifact the plugins see, 64 MiB. */
export const DEFAULT_INSPECTION_MAX_BYTES = 64 * 1024 ** 2;

/** A held copy's metadata (the `quarantine_records` row, without the content). */
export interface QuarantineHold {
  inspectionId: string;
  subject: ContentSubject;
  subjectId: string;
  publisherId: string;
  contentType: string;
  contentSha256: string;
  createdAtMs: number;
  expiresAtMs: number;
}

/** The encrypted quarantine (infra/adapters/quarantine/), as submissions use it. */
export interface QuarantineStore {
  /** QUARANTINE_EXPIRY_HOURS. */
  readonly expiryHours: number;
  /** Encrypts and keeps the content under a fresh data key; returns its size. */
  hold(record: QuarantineHold, content: AsyncIterable<Uint8Array>): Promise<{ sizeBytes: number }>;
  /** Removes a held copy whose decision could not be recorded (object and key). */
  discard(inspectionId: string): Promise<void>;
  /**
   * The inspection id of a release of content with this hash, of this
   * publisher and kind, not used yet, if there is one; marks it used: one
   * release lets one resubmission pass uninspected.
   */
  claimRelease(
    subject: ContentSubject,
    publisherId: string,
    contentSha256: string,
    atMs: number,
  ): Promise<string | undefined>;
  /** Crypto-shredding: deletes the object and its wrapped key, and marks the record released, deleted or expired. */
  shred(inspectionId: string, status: 'released' | 'deleted' | 'expired', by: string, atMs: number): Promise<void>;
  /** Held records past their expiry at `nowMs`, oldest first, at most `limit`. */
  expired(nowMs: number, limit: number): Promise<string[]>;
}

export interface ContentDeps {
  inspector: Inspector;
  /** undefined: QUARANTINE_ENABLED=false, QUARANTINE falls back to BLOCK. */
  quarantine: QuarantineStore | undefined;
  /** INSPECTION_MAX_BYTES: what of an artifact the plugins see. */
  maxInspectedBytes: number;
  /**
   * Told each submission's applied decision (the metrics' content_decisions_total): the tier recorded,
   * BLOCK where the inspector said QUARANTINE with quarantine off, CLEAR for a released resubmission.
   */
  observeDecision?: ((tier: Tier, subject: ContentSubject) => void) | undefined;
}

export interface Submission {
  subject: ContentSubject;
  subjectId: string;
  publisherId: string;
  contentType: string;
  /** What the plugins see: the text, or the (beginning of the) bytes. */
  text?: string | undefined;
  bytes?: Uint8Array | undefined;
  partial?: boolean;
  /** The whole content's size and SHA-256 (of the UTF-8 text, or of every byte). */
  sizeBytes: number;
  contentSha256: string;
  /** The whole content again, for the quarantined copy. */
  content: () => AsyncIterable<Uint8Array>;
}

export interface Screening {
  inspectionId: string;
  tier: Tier;
  decision: ContentDecision;
  /** The decision record as an append of the submission's own transaction (CLEAR). */
  append: StreamAppend;
}

export function sha256OfText(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** A text submission: the content is the UTF-8 text. */
export function textSubmission(
  subject: ContentSubject,
  subjectId: string,
  publisherId: string,
  contentType: string,
  text: string,
): Submission {
  const bytes = Buffer.from(text, 'utf8');
  return {
    subject,
    subjectId,
    publisherId,
    contentType,
    text,
    sizeBytes: bytes.length,
    contentSha256: sha256OfText(text),
    content: async function* () {
      yield bytes;
    },
  };
}

/** Every string of a JSON value (keys and values), depth first. */
function stringsOf(value: unknown, into: string[] = []): string[] {
  if (typeof value === 'string') into.push(value);
  else if (Array.isArray(value)) for (const item of value) stringsOf(item, into);
  else if (typeof value === 'object' && value !== null)
    for (const [key, item] of Object.entries(value)) {
      into.push(key);
      stringsOf(item, into);
    }
  return into;
}

/**
 * A JSON document submission (a manifest): the content held and hashed is its
 * JCS, but the plugins see that JCS followed by each of its strings as
 * written, one a line. In the JCS a line break or a tab is an escape
 * (`\n`, `\t`), whose letter would hide the word, domain or token after it
 * from rules that look at what precedes a match.
 */
export function documentSubmission(
  subject: ContentSubject,
  subjectId: string,
  publisherId: string,
  document: unknown,
  canonical: string,
): Submission {
  const submission = textSubmission(subject, subjectId, publisherId, 'application/json', canonical);
  return { ...submission, text: [canonical, ...stringsOf(document)].join('\n') };
}

const RELEASED_PLUGIN = 'moderation';

async function inspectionOf(
  deps: ContentDeps,
  context: CommandContext,
  submission: Submission,
): Promise<InspectionResult> {
  const released = await deps.quarantine?.claimRelease(
    submission.subject,
    submission.publisherId,
    submission.contentSha256,
    Date.parse(context.now),
  );
  if (released !== undefined) {
    const reason = `the same content was released by a moderator (inspection ${released})`;
    const pluginResults = [
      {
        plugin: RELEASED_PLUGIN,
        outcome: 'ok' as const,
        tier: 'CLEAR' as const,
        labels: ['moderation.released'],
        reason,
        durationMs: 0,
      },
    ];
    return { tier: 'CLEAR', labels: ['moderation.released'], pluginResults, durationMs: 0 };
  }
  return deps.inspector.inspect({
    text: submission.text,
    bytes: submission.bytes,
    contentType: submission.contentType,
    actor: context.actor,
    subject: submission.subject,
    partial: submission.partial,
  });
}

/** Inspects the submission and decides its record; nothing is appended or stored yet. */
export async function screen(deps: CommandDeps, context: CommandContext, submission: Submission): Promise<Screening> {
  const result = await inspectionOf(deps.content, context, submission);
  const inspectionId = context.newId();
  const quarantineDisabled = result.tier === 'QUARANTINE' && deps.content.quarantine === undefined;
  const tier: Tier = quarantineDisabled ? 'BLOCK' : result.tier;
  deps.content.observeDecision?.(tier, submission.subject);
  const decision: ContentDecision = {
    inspectionId,
    subject: submission.subject,
    subjectId: submission.subjectId,
    publisherId: submission.publisherId,
    submittedBy: context.actor.id,
    contentType: submission.contentType.slice(0, 255),
    sizeBytes: submission.sizeBytes,
    tier,
    labels: result.labels,
    pluginResults: result.pluginResults,
  };
  if (quarantineDisabled) decision.quarantineDisabled = true;
  if (tier === 'QUARANTINE')
    decision.expiresAt = new Date(
      Date.parse(context.now) + deps.content.quarantine!.expiryHours * 3_600_000,
    ).toISOString();
  const decider = contentDeciderFor(inspectionId);
  const events = decider.decide(
    { type: 'RecordContentDecision', actor: context.actor, decision },
    decider.initialState,
  );
  return {
    inspectionId,
    tier,
    decision,
    append: { stream: streams.content(inspectionId), expectedVersion: 0, events },
  };
}

/**
 * Keeps the encrypted copy; a store or database that fails is 503
 * QUARANTINE_UNAVAILABLE (nothing recorded, the submission may be sent again),
 * never a pass.
 */
async function holdOrUnavailable(
  quarantine: QuarantineStore,
  screening: Screening,
  submission: Submission,
  createdAtMs: number,
): Promise<void> {
  try {
    await quarantine.hold(
      {
        inspectionId: screening.inspectionId,
        subject: submission.subject,
        subjectId: submission.subjectId,
        publisherId: submission.publisherId,
        contentType: submission.contentType,
        contentSha256: submission.contentSha256,
        createdAtMs,
        expiresAtMs: Date.parse(screening.decision.expiresAt!),
      },
      submission.content(),
    );
  } catch (error) {
    if (error instanceof CodedError) throw error;
    throw new CodedError(
      'QUARANTINE_UNAVAILABLE',
      `the ${submission.subject} must be held for moderation and the quarantine store failed: ${error instanceof Error ? error.message : String(error)}`,
      { inspectionId: screening.inspectionId },
    );
  }
}

function refusalDetails(screening: Screening, seq: number | undefined): Record<string, unknown> {
  const { inspectionId, decision } = screening;
  return { inspectionId, subject: decision.subject, tier: decision.tier, labels: decision.labels, decisionSeq: seq };
}

/**
 * For BLOCK and QUARANTINE: records the decision alone (and, for QUARANTINE,
 * keeps the encrypted copy first), then refuses the submission. Returns for
 * CLEAR, whose record the caller appends with the submission.
 */
export async function refuseUnlessClear(
  deps: CommandDeps,
  context: CommandContext,
  screening: Screening,
  submission: Submission,
): Promise<void> {
  if (screening.tier === 'CLEAR') return;
  const quarantine = deps.content.quarantine;
  if (screening.tier === 'QUARANTINE') {
    const createdAtMs = Date.parse(context.now);
    await holdOrUnavailable(quarantine!, screening, submission, createdAtMs);
  }
  let seq: number | undefined;
  try {
    seq = (await appendAlone(deps, context, screening.append))[0]?.seq;
  } catch (error) {
    if (screening.tier === 'QUARANTINE') await quarantine!.discard(screening.inspectionId).catch(() => undefined);
    throw error;
  }
  const decisive = decisiveResult(screening.decision);
  const why = decisive?.reason ?? decisive?.labels.join(', ') ?? 'the inspection';
  const disabled = screening.decision.quarantineDisabled === true ? ' (to be held, but quarantine is off)' : '';
  if (screening.tier === 'BLOCK')
    throw new CodedError(
      'CONTENT_BLOCKED',
      `the ${submission.subject} was refused: ${why}${disabled}`,
      refusalDetails(screening, seq),
    );
  throw new CodedError(
    'CONTENT_QUARANTINED',
    `the ${submission.subject} is held for moderation: ${why}`,
    refusalDetails(screening, seq),
  );
}
