/** What the query routes share: who may read, page parameters, the 404 of a missing entity. */
import { z } from 'zod';
import type { Role } from '../../../../domain/actor.ts';
import { FINANCE_ROLES, ROLES } from '../../../../domain/actor.ts';
import { CodedError } from '../../../../domain/errors.ts';
import { MAX_PAGE_ROWS } from '../../../../projections/page.ts';

/** Everyone with a token: the catalog is the shop window. */
export const ANY_ROLE: readonly Role[] = ROLES;
/** Roles that read everything (an Auditor reads everything and writes nothing). */
export const READ_ALL_ROLES: readonly Role[] = ['SuperAdmin', 'DivisionLead', 'Operator', 'Auditor', 'Service'];
export const FINANCE_READ_ROLES: readonly Role[] = [...new Set([...FINANCE_ROLES, 'Auditor' as const])];

export const idParameter = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$/, 'letters, digits and . _ : - (at most 100)');

export const pageQuery = {
  limit: z.coerce.number().int().min(1).max(MAX_PAGE_ROWS).optional().describe(`rows per page, at most ${MAX_PAGE_ROWS} (default 50)`),
  after: z.string().min(1).max(256).optional().describe('the `next` of the previous page'),
};

export function pageSchema<Item extends z.ZodType>(item: Item) {
  return z.object({ items: z.array(item), next: z.string().nullable().describe('pass as `after` for the next page; null on the last one') });
}

export function notFound(code: string, what: string): CodedError {
  return new CodedError(code, `no such ${what}`, {});
}
