/** Zod schemas of the values events and command inputs share: ids, free text, hashes, money, instants. */
import { z } from 'zod';
import { ID_PATTERN, MAX_TEXT_LENGTH, SHA256_PATTERN } from './ids.ts';
import { CURRENCY_PATTERN, MAX_AMOUNT_MINOR } from './money.ts';

export const idSchema = z.string().regex(ID_PATTERN);
export const textSchema = z.string().min(1).max(MAX_TEXT_LENGTH);
export const sha256Schema = z.string().regex(SHA256_PATTERN);
export const currencySchema = z.string().regex(CURRENCY_PATTERN);
export const amountSchema = z.number().int().positive().max(MAX_AMOUNT_MINOR);
/** An instant: RFC 3339 UTC with milliseconds. */
export const timestampSchema = z.iso.datetime({ offset: false, precision: 3 });
