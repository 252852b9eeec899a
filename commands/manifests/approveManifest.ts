/**
 * ApproveManifest: the kernel signs the SHA-256 of the manifest's JCS with its
 * signer and records the signature; `manifestSignatureId` names it for the
 * listings, orders and deliveries that cite it.
 */
import { z } from 'zod';
import { jcs } from '../../chain/canonical.ts';
import { sha256Hex } from '../../chain/hash.ts';
import { manifestDecider, type ManifestCommand, type ManifestState } from '../../domain/manifests/manifestDecider.ts';
import type { ManifestDocument } from '../../domain/manifests/manifestEvents.ts';
import { streams } from '../../domain/streams.ts';
import {
  execute,
  expectedVersionSchema,
  loadStream,
  checkExpectedVersion,
  parseInput,
  type CommandContext,
  type CommandDeps,
  type CommandResult,
} from '../command.ts';
import { entityIdSchema } from '../decideStream.ts';
import { MANIFEST_EVENT_TYPES } from './submitManifest.ts';

export const approveManifestInputSchema = z.strictObject({
  manifestId: entityIdSchema,
  expectedVersion: expectedVersionSchema,
});

/** SHA-256 of JCS(manifest document), hex: what the kernel signs (as 32 raw bytes). */
export function manifestSha256(manifest: ManifestDocument): string {
  return sha256Hex(jcs(manifest));
}

/** The id of a kernel signature: derived from it, so it is the same wherever it is recomputed. */
export function manifestSignatureId(signatureValue: string): string {
  return `msig-${sha256Hex(signatureValue).slice(0, 32)}`;
}

const UNSIGNED = { kid: 'unsigned', alg: 'none', value: 'none' };

export async function approveManifest(
  deps: CommandDeps,
  input: unknown,
  context: CommandContext,
): Promise<CommandResult & { manifestSignatureId?: string }> {
  const { manifestId, expectedVersion } = parseInput(approveManifestInputSchema, input);
  const stream = streams.manifest(manifestId);
  return execute(
    deps,
    context,
    { operation: 'approveManifest', input },
    async () => {
      const loaded = await loadStream(deps.store, stream, manifestDecider, MANIFEST_EVENT_TYPES);
      checkExpectedVersion(loaded, expectedVersion);
      const command = (signature: typeof UNSIGNED, id: string): ManifestCommand => ({
        type: 'ApproveManifest',
        actor: context.actor,
        manifestSha256: hashOf(loaded.state),
        manifestSignatureId: id,
        signature,
      });
      // Decide once unsigned: nothing is signed for a manifest that may not be approved.
      manifestDecider.decide(command(UNSIGNED, 'unsigned'), loaded.state);
      const signature = await deps.signer.signMessage(Buffer.from(hashOf(loaded.state), 'hex'));
      const signatureId = manifestSignatureId(signature.value);
      return {
        appends: [
          {
            stream,
            expectedVersion: loaded.version,
            events: manifestDecider.decide(command(signature, signatureId), loaded.state),
          },
        ],
        answer: { manifestSignatureId: signatureId },
      };
    },
    expectedVersion !== undefined,
  );
}

function hashOf(state: ManifestState): string {
  return state.status === 'absent' ? '0'.repeat(64) : manifestSha256(state.manifest);
}
