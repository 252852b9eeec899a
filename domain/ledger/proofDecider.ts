/**
 * Recording an issued ledger proof (stream `proof-<proofId>`): once per proof
 * id, by finance roles. Auditors read and verify proofs; they append nothing.
 */
import { requireRole, type Actor } from '../actor.ts';
import { COMMAND_ROLES } from '../authorization.ts';
import type { Decider } from '../decider.ts';
import { assertNever, CodedError } from '../errors.ts';
import type { ProofIssued } from './ledgerEvents.ts';

export type ProofCommand = { type: 'RecordProof'; actor: Actor; proof: ProofIssued };
export type ProofEvent = { type: 'ledger.proof_issued'; data: ProofIssued };
export type ProofState = { status: 'absent' } | { status: 'issued'; proof: ProofIssued };

export const proofDecider: Decider<ProofCommand, ProofEvent, ProofState> = {
  initialState: { status: 'absent' },
  decide(command, state) {
    switch (command.type) {
      case 'RecordProof': {
        requireRole(command.actor, COMMAND_ROLES.RecordProof, 'issuing a ledger proof');
        if (state.status !== 'absent')
          throw new CodedError('PROOF_EXISTS', `proof ${command.proof.proofId} was already issued`, {
            proofId: command.proof.proofId,
          });
        const { fromSeq, toSeq } = command.proof;
        if (fromSeq > toSeq)
          throw new CodedError('PROOF_RANGE_INVALID', `fromSeq ${fromSeq} is after toSeq ${toSeq}`, { fromSeq, toSeq });
        return [{ type: 'ledger.proof_issued', data: command.proof }];
      }
      default:
        return assertNever(command.type, 'proof command');
    }
  },
  evolve(_state, event) {
    return { status: 'issued', proof: event.data };
  },
};
