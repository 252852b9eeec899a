/**
 * Signer rotation (`chainbook signers add | activate | retire`). The
 * registry file is the verifier's source of truth (docs/FORMAT.md section 4); each
 * change is also recorded in the chain (signer.registered, signer.activated,
 * signer.retired), signed by the signer in force, so the chain itself says
 * who changed what and when. The file is written first and restored when the
 * chain record cannot be appended: the two never disagree for long.
 *
 * Order (README, "Rotating a signer"): add the new key with deployedAt in the
 * future → at or after deployedAt, activate it by starting the writer with
 * SIGNING_KID set to it → retire the old key.
 */
import { CodedError } from '../domain/errors.ts';
import type { JsonObject } from '../domain/json.ts';
import { SIGNER_EVENT_TYPES } from './delegation.ts';
import type { AppendEventInput } from './input.ts';
import { parseRegistry, registryEntryJson, type RegistryEntryJson, type SignerRegistry } from './registry.ts';
import type { AppendResult } from './store.ts';

export const ROTATION_ACTOR = { id: 'service:signer-rotation', role: 'Service' } as const;

/** Where the registry lives (signers.json): infra/adapters/signers/registryFile.ts keeps it in a file. */
export interface RegistryStore {
  load(): SignerRegistry;
  save(registry: SignerRegistry): void;
}

export interface RotationContext {
  registry: RegistryStore;
  /** Appends to the chain with the signer in force. */
  append(events: readonly AppendEventInput[]): Promise<AppendResult>;
  /** The kid the writer signs with now. */
  signerKid: string;
  nowMs: number;
  /** Who asked for the change, recorded in the event (an operator's name). */
  actorId?: string;
}

function actor(context: RotationContext): { id: string; role: string } {
  return context.actorId === undefined ? ROTATION_ACTOR : { id: context.actorId, role: 'Operator' };
}

function signerEvent(context: RotationContext, kid: string, type: string, data: JsonObject): AppendEventInput {
  return { stream: `signer-${kid}`, type, actor: actor(context), data };
}

/** Writes `next`, appends `event`; restores `previous` when the append fails. */
async function changeAndRecord(
  context: RotationContext,
  previous: SignerRegistry,
  next: SignerRegistry,
  event: AppendEventInput,
): Promise<AppendResult> {
  context.registry.save(next);
  try {
    return await context.append([event]);
  } catch (error) {
    context.registry.save(previous);
    throw error;
  }
}

function withEntries(entries: readonly RegistryEntryJson[]): SignerRegistry {
  return parseRegistry({ signers: entries });
}

/** `signers add`: publishes a new public key with deployedAt in the future. */
export async function addSigner(context: RotationContext, entry: RegistryEntryJson): Promise<AppendResult> {
  const previous = context.registry.load();
  if (previous.signers.has(entry.signer_kid))
    throw new CodedError('SIGNER_EXISTS', `signer ${entry.signer_kid} is already in the registry`);
  const next = withEntries([...[...previous.signers.values()].map(registryEntryJson), { ...entry, retiredAt: null }]);
  const added = next.signers.get(entry.signer_kid)!;
  if (added.deployedAtMs <= context.nowMs) {
    throw new CodedError(
      'DEPLOYED_AT_NOT_IN_FUTURE',
      `deployedAt ${added.deployedAt} must be in the future: the key is published before it signs`,
      {
        deployedAt: added.deployedAt,
      },
    );
  }
  const data: JsonObject = {
    kid: added.kid,
    algorithm: added.algorithm,
    public_key_pem: added.publicKeyPem,
    deployedAt: added.deployedAt,
    ...(added.description === null ? {} : { description: added.description }),
  };
  return changeAndRecord(context, previous, next, signerEvent(context, added.kid, SIGNER_EVENT_TYPES.registered, data));
}

/** `signers activate`: the writer now signing as `kid` (SIGNING_KID) records that it took over; refused before deployedAt. */
export async function activateSigner(context: RotationContext, kid: string): Promise<AppendResult> {
  const registry = context.registry.load();
  const entry = registry.signers.get(kid);
  if (!entry) throw new CodedError('SIGNER_NOT_REGISTERED', `signer ${kid} is not in the registry: add it first`);
  if (context.nowMs < entry.deployedAtMs) {
    throw new CodedError(
      'SIGNER_NOT_YET_DEPLOYED',
      `signer ${kid} is deployed from ${entry.deployedAt}: activate it at or after that time`,
      { deployedAt: entry.deployedAt },
    );
  }
  if (entry.retiredAtMs !== null && context.nowMs >= entry.retiredAtMs)
    throw new CodedError('SIGNER_RETIRED', `signer ${kid} was retired at ${entry.retiredAt}`);
  if (context.signerKid !== kid) {
    throw new CodedError(
      'SIGNER_NOT_IN_USE',
      `the writer signs as ${context.signerKid}: start it with SIGNING_KID=${kid} (and that key's backend) to activate ${kid}`,
    );
  }
  return context.append([
    signerEvent(context, kid, SIGNER_EVENT_TYPES.activated, {
      kid,
      deployedAt: entry.deployedAt,
      activatedAt: new Date(context.nowMs).toISOString(),
    }),
  ]);
}

/** `signers retire`: sets retiredAt (now by default, never in the past), signed by the signer in force, which must be another. */
export async function retireSigner(
  context: RotationContext,
  kid: string,
  retiredAtMs = context.nowMs,
): Promise<AppendResult> {
  const previous = context.registry.load();
  const entry = previous.signers.get(kid);
  if (!entry) throw new CodedError('SIGNER_NOT_REGISTERED', `signer ${kid} is not in the registry`);
  if (entry.retiredAt !== null)
    throw new CodedError('SIGNER_RETIRED', `signer ${kid} was already retired at ${entry.retiredAt}`);
  if (kid === context.signerKid)
    throw new CodedError('SIGNER_IN_USE', `signer ${kid} is the one signing now: activate its successor first`);
  // Records already signed must stay valid: retiredAt is never before now.
  if (retiredAtMs < context.nowMs)
    throw new CodedError(
      'RETIRED_AT_IN_PAST',
      'retiredAt may not be in the past: records signed since would stop verifying',
    );
  const retiredAt = new Date(retiredAtMs).toISOString();
  const next = withEntries(
    [...previous.signers.values()].map((signer) =>
      signer.kid === kid ? { ...registryEntryJson(signer), retiredAt } : registryEntryJson(signer),
    ),
  );
  return changeAndRecord(
    context,
    previous,
    next,
    signerEvent(context, kid, SIGNER_EVENT_TYPES.retired, { kid, retiredAt }),
  );
}
