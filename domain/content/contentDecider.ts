/**
 * One inspected submission: its decision (passed, blocked, quarantined) and,
 * for quarantined content, what happened to it after: a moderator released or
 * deleted it, or it expired. Only human admin roles moderate; a release or a
 * delete of content that is no longer held (released, deleted, expired) is
 * refused with CONTENT_NOT_HELD.
 */
import { requireRole, type Actor } from '../actor.ts';
import { COMMAND_ROLES, CONTENT_SUBMITTER_ROLES } from '../authorization.ts';
import type { Decider } from '../decider.ts';
import { assert, assertNever, CodedError } from '../errors.ts';
import { requireText } from '../ids.ts';
import type { ContentDecision, ContentEvent } from './contentEvents.ts';

export type ContentCommand =
  | { type: 'RecordContentDecision'; actor: Actor; decision: ContentDecision }
  | { type: 'ReleaseContent'; actor: Actor; reason: string }
  | { type: 'DeleteContent'; actor: Actor; reason: string }
  | { type: 'ExpireContent'; actor: Actor; nowMs: number };

export type ContentStatus = 'passed' | 'blocked' | 'quarantined' | 'released' | 'deleted' | 'expired';
export type ContentState = { status: 'absent' } | { status: ContentStatus; decision: ContentDecision };

const EVENT_OF_TIER = { CLEAR: 'content.passed', QUARANTINE: 'content.quarantined', BLOCK: 'content.blocked' } as const;

function held(state: ContentState, inspectionId: string): ContentDecision {
  if (state.status === 'absent') throw new CodedError('CONTENT_NOT_FOUND', `no inspection ${inspectionId}`);
  if (state.status !== 'quarantined')
    throw new CodedError('CONTENT_NOT_HELD', `inspection ${inspectionId} is ${state.status}, not held in quarantine`, {
      inspectionId,
      status: state.status,
    });
  return state.decision;
}

function moderate(
  command: Extract<ContentCommand, { type: 'ReleaseContent' | 'DeleteContent' }>,
  state: ContentState,
  inspectionId: string,
): ContentEvent[] {
  requireRole(command.actor, COMMAND_ROLES.ModerateContent, 'moderating quarantined content');
  const decision = held(state, inspectionId);
  // Neither the publisher nor whoever submitted it for them (an admin's listing text) moderates it.
  if (decision.publisherId === command.actor.id || decision.submittedBy === command.actor.id)
    throw new CodedError(
      'CONTENT_SELF_MODERATION',
      `${command.actor.id} submitted this content and cannot moderate it`,
    );
  requireText(command.reason, 'INVALID_REASON', 'reason');
  const data = { inspectionId: decision.inspectionId, moderatorId: command.actor.id, reason: command.reason };
  return [{ type: command.type === 'ReleaseContent' ? 'content.released' : 'content.deleted', data }];
}

export function contentDeciderFor(inspectionId: string): Decider<ContentCommand, ContentEvent, ContentState> {
  return {
    initialState: { status: 'absent' },
    decide(command, state) {
      switch (command.type) {
        case 'RecordContentDecision': {
          requireRole(command.actor, CONTENT_SUBMITTER_ROLES, 'submitting content');
          if (state.status !== 'absent')
            throw new CodedError('CONTENT_DECIDED', `inspection ${inspectionId} is already recorded`);
          return [{ type: EVENT_OF_TIER[command.decision.tier], data: command.decision }];
        }
        case 'ReleaseContent':
        case 'DeleteContent':
          return moderate(command, state, inspectionId);
        case 'ExpireContent': {
          requireRole(command.actor, COMMAND_ROLES.ExpireContent, 'expiring quarantined content');
          const decision = held(state, inspectionId);
          const expiresAtMs = Date.parse(decision.expiresAt ?? '');
          if (!(expiresAtMs <= command.nowMs))
            throw new CodedError('CONTENT_NOT_EXPIRED', `inspection ${inspectionId} expires at ${decision.expiresAt}`);
          return [{ type: 'content.expired', data: { inspectionId, shredded: true } }];
        }
        default:
          return assertNever(command, 'content command');
      }
    },
    evolve(state, event) {
      switch (event.type) {
        case 'content.passed':
          return { status: 'passed', decision: event.data };
        case 'content.blocked':
          return { status: 'blocked', decision: event.data };
        case 'content.quarantined':
          return { status: 'quarantined', decision: event.data };
        case 'content.released':
        case 'content.deleted':
        case 'content.expired':
          assert(state.status !== 'absent', `${event.type} follows a decision`);
          return {
            status:
              event.type === 'content.released' ? 'released' : event.type === 'content.deleted' ? 'deleted' : 'expired',
            decision: state.decision,
          };
        default:
          return assertNever(event, 'content event');
      }
    },
  };
}
