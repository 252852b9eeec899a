/** What the query routes share: page parameters, the 404 of a missing entity. */
import { z } from 'zod';
import { CodedError } from '../../../../domain/errors.ts';
import { MAX_PAGE_ROWS } from '../../../../projections/page.ts';

export const idParameter = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$/, 'letters, digits and . _ : - (at most 100)');

export const pageQuery = {
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(MAX_PAGE_ROWS)
    .optional()
    .describe(`rows per page, at most ${MAX_PAGE_ROWS} (default 50)`),
  after: z.string().min(1).max(256).optional().describe('the `next` of the previous page'),
};

export function pageSchema<Item extends z.ZodType>(item: Item) {
  return z.object({
    items: z.array(item),
    next: z.string().nullable().describe('pass as `after` for the next page; null on the last one'),
  });
}

export function notFound(code: string, what: string): CodedError {
  return new CodedError(code, `no such ${what}`, {});
}
