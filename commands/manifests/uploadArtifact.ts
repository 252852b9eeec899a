/**
 * RecordArtifact: the publisher uploads the artifact of its submitted
 * manifest. The bytes stream into the artifact store under a fresh key while
 * they are counted and hashed; nothing past the manifest's `sizeBytes` (nor
 * past ARTIFACT_MAX_BYTES) is read. Only when the size and SHA-256 are those
 * the manifest names is `manifest.artifact_stored` appended; on any refusal
 * the object is deleted, so a refused upload leaves neither a record nor an
 * object (docs/DOMAIN.md, "Artifacts").
 *
 * The bytes are screened before the record (commands/content/screenContent.ts):
 * the plugins see the first INSPECTION_MAX_BYTES, kept in memory while the
 * bytes stream to the store, and the declared type (the request's
 * Content-Type). A blocked upload is deleted; a quarantined one is encrypted
 * into the quarantine from the store, then deleted in the clear: either way
 * only its decision is recorded, and the manifest cannot be approved without
 * an artifact.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { assert, CodedError } from '../../domain/errors.ts';
import { manifestDecider, type ManifestCommand, type ManifestState } from '../../domain/manifests/manifestDecider.ts';
import { streams } from '../../domain/streams.ts';
import {
  checkExpectedVersion,
  execute,
  expectedVersionSchema,
  loadStream,
  parseInput,
  type CommandContext,
  type CommandDeps,
  type CommandResult,
} from '../command.ts';
import { entityIdSchema } from '../decideStream.ts';
import { MANIFEST_EVENT_TYPES } from './submitManifest.ts';
import { refuseUnlessClear, screen, type Screening, type Submission } from '../content/screenContent.ts';

/** The default of ARTIFACT_MAX_BYTES: 4 GiB. */
export const DEFAULT_ARTIFACT_MAX_BYTES = 4 * 1024 ** 3;

export const uploadArtifactInputSchema = z.strictObject({
  manifestId: entityIdSchema,
  expectedVersion: expectedVersionSchema,
  /** The request's declared length (Content-Length), when it has one: a declared excess is refused before reading. */
  declaredBytes: z.number().int().nonnegative().optional(),
  /** The declared type of the bytes (the request's Content-Type), checked against their real type. */
  contentType: z
    .string()
    .regex(/^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/)
    .max(255)
    .optional(),
});

interface Measured {
  sizeBytes: number;
  sha256: string;
  /** The first `inspectBytes` of the upload, for the inspector. */
  head: Buffer[];
  headBytes: number;
}

/** Passes the chunks on while counting and hashing them; throws once they pass `limitBytes`. */
async function* measured(
  body: AsyncIterable<Uint8Array>,
  limitBytes: number,
  onLimit: (receivedBytes: number) => never,
  result: Measured,
  inspectBytes: number,
): AsyncIterable<Uint8Array> {
  const hash = createHash('sha256');
  let sizeBytes = 0;
  for await (const chunk of body) {
    sizeBytes += chunk.byteLength;
    if (sizeBytes > limitBytes) onLimit(sizeBytes);
    hash.update(chunk);
    if (result.headBytes < inspectBytes) {
      const kept = Buffer.from(chunk.subarray(0, inspectBytes - result.headBytes));
      result.head.push(kept);
      result.headBytes += kept.length;
    }
    yield chunk;
  }
  result.sizeBytes = sizeBytes;
  result.sha256 = hash.digest('hex');
}

function artifactSubmission(
  deps: CommandDeps,
  manifestId: string,
  context: CommandContext,
  measure: Measured,
  objectKey: string,
  contentType: string | undefined,
): Submission {
  const { store } = deps.artifacts;
  return {
    subject: 'artifact',
    subjectId: manifestId,
    publisherId: context.actor.id,
    contentType: contentType ?? 'application/octet-stream',
    bytes: Buffer.concat(measure.head),
    partial: measure.headBytes < measure.sizeBytes,
    sizeBytes: measure.sizeBytes,
    contentSha256: measure.sha256,
    async *content() {
      const stored = await store.get(objectKey);
      assert(stored !== undefined, `the artifact just stored at ${objectKey} is there`);
      yield* stored;
    },
  };
}

function recordCommand(
  context: CommandContext,
  measure: Pick<Measured, 'sha256' | 'sizeBytes'>,
  objectKey: string,
): ManifestCommand {
  return {
    type: 'RecordArtifact',
    actor: context.actor,
    artifactSha256: measure.sha256,
    sizeBytes: measure.sizeBytes,
    objectKey,
  };
}

/** Refuses before reading the body what would be refused after: the role, the publisher, the state, the size bound. */
function precheck(state: ManifestState, context: CommandContext, maxBytes: number, declaredBytes?: number): number {
  const expected =
    state.status === 'absent'
      ? { sha256: '0'.repeat(64), sizeBytes: 1 }
      : {
          sha256: state.manifest.artifactSha256,
          sizeBytes: state.manifest.sizeBytes,
        };
  manifestDecider.decide(recordCommand(context, expected, 'artifacts/precheck/precheck'), state);
  const limit = expected.sizeBytes;
  if (limit > maxBytes || (declaredBytes !== undefined && declaredBytes > maxBytes))
    throw new CodedError('ARTIFACT_TOO_LARGE', `artifacts are at most ${maxBytes} bytes (ARTIFACT_MAX_BYTES)`, {
      maxBytes,
      sizeBytes: Math.max(limit, declaredBytes ?? 0),
    });
  if (declaredBytes !== undefined && declaredBytes !== limit) sizeMismatch(limit, declaredBytes);
  return limit;
}

function sizeMismatch(expectedBytes: number, receivedBytes: number): never {
  throw new CodedError(
    'ARTIFACT_SIZE_MISMATCH',
    `the upload is ${receivedBytes} bytes or more; the manifest says ${expectedBytes}`,
    { expectedBytes, receivedBytes },
  );
}

export async function uploadArtifact(
  deps: CommandDeps,
  input: unknown,
  context: CommandContext,
  body: AsyncIterable<Uint8Array>,
): Promise<CommandResult & { objectKey?: string }> {
  const { manifestId, expectedVersion, declaredBytes, contentType } = parseInput(uploadArtifactInputSchema, input);
  const stream = streams.manifest(manifestId);
  const { store, maxBytes } = deps.artifacts;
  const objectKey = `artifacts/${manifestId}/${context.newId()}`;
  const measure: Measured = { sizeBytes: 0, sha256: '', head: [], headBytes: 0 };
  let written = false;
  let screening: Screening | undefined;
  try {
    const result = await execute(
      deps,
      context,
      { operation: 'uploadArtifact', input: { manifestId, expectedVersion } },
      async () => {
        const loaded = await loadStream(deps.store, stream, manifestDecider, MANIFEST_EVENT_TYPES);
        checkExpectedVersion(loaded, expectedVersion);
        // The bytes are read once, on the first decision: a retry after a lost version race decides on what was stored.
        if (!written) {
          const limitBytes = precheck(loaded.state, context, maxBytes, declaredBytes);
          const counted = measured(
            body,
            limitBytes,
            (received) => sizeMismatch(limitBytes, received),
            measure,
            deps.content.maxInspectedBytes,
          );
          written = true;
          await store.put(objectKey, counted);
        }
        const events = manifestDecider.decide(recordCommand(context, measure, objectKey), loaded.state);
        if (screening === undefined) {
          const submission = artifactSubmission(deps, manifestId, context, measure, objectKey, contentType);
          screening = await screen(deps, context, submission);
          await refuseUnlessClear(deps, context, screening, submission);
        }
        return {
          appends: [{ stream, expectedVersion: loaded.version, events }, screening.append],
          answer: { objectKey },
        };
      },
      expectedVersion !== undefined,
    );
    // Answered from the idempotency key after all (the first upload's object), or recorded: keep only a recorded object.
    if (written && result.objectKey !== objectKey) await store.delete(objectKey);
    return result;
  } catch (error) {
    // The refusal is what the caller needs to see; a failed clean-up must not replace it.
    if (written) await store.delete(objectKey).catch(() => undefined);
    throw error;
  }
}
