/**
 * Who causes an event, as the HTTP API authenticates it (docs/DESIGN.md, "Roles").
 * The chain records `{id, role}` in every record's `actor`.
 */
import { CodedError } from './errors.ts';

export const ROLES = ['SuperAdmin', 'DivisionLead', 'Operator', 'Auditor', 'Publisher', 'Buyer', 'Service'] as const;
export type Role = (typeof ROLES)[number];

export interface Actor {
  id: string;
  role: string;
}

export function hasRole(actor: Actor, roles: readonly Role[]): boolean {
  return (roles as readonly string[]).includes(actor.role);
}

/** Throws FORBIDDEN_ROLE unless the actor has one of `roles`. */
export function requireRole(actor: Actor, roles: readonly Role[], action: string): void {
  if (!hasRole(actor, roles)) {
    throw new CodedError(
      'FORBIDDEN_ROLE',
      `${action} needs one of the roles ${roles.join(', ')}; ${actor.id} is ${actor.role}`,
      {
        actor: actor.id,
        role: actor.role,
        allowed: [...roles],
      },
    );
  }
}
