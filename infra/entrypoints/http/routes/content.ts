/**
 * Moderation of quarantined content over HTTP (docs/DOMAIN.md, "Content
 * inspection"): moderators (human admin roles) list what is held, get a view
 * link that expires (QUARANTINE_LINK_TTL_SECONDS, 300 s by default), and
 * release or delete with a reason; the expiry job can be run on demand. The
 * view route needs no token (the link is the capability) and serves the
 * content only once its GCM tag checks: a tampered object answers 409
 * QUARANTINE_TAMPERED and no byte of it.
 */
import { z } from 'zod';
import {
  deleteContent,
  expireQuarantine,
  expireQuarantineInputSchema,
  moderateContentInputSchema,
  releaseContent,
} from '../../../../commands/content/moderateContent.ts';
import { COMMAND_ROLES, READ_ROLES } from '../../../../domain/authorization.ts';
import { CodedError } from '../../../../domain/errors.ts';
import type { QuarantineVault } from '../../../adapters/quarantine/quarantineVault.ts';
import { viewLinks } from '../../../adapters/quarantine/viewLinks.ts';
import { commandRoute } from '../commandRoute.ts';
import { HttpError } from '../errors.ts';
import { defineRoute, QUERY_ERRORS, type HttpServices, type RouteSpec } from '../route.ts';
import { baseUrlOf } from './delivery.ts';
import { idParameter } from './queryCommon.ts';

/** Records one page of the list holds. */
const LIST_PAGE_RECORDS = 100;

function vaultOf(services: HttpServices): QuarantineVault {
  const vault = services.app.content.vault;
  if (vault === undefined)
    throw new CodedError('QUARANTINE_DISABLED', 'quarantine is off (QUARANTINE_ENABLED=false): nothing is held');
  return vault;
}

const recordSchema = z.object({
  inspectionId: z.string(),
  subject: z.enum(['manifest', 'listing', 'artifact']),
  subjectId: z.string(),
  publisherId: z.string(),
  contentType: z.string(),
  sizeBytes: z.number().int(),
  status: z.enum(['held', 'released', 'deleted', 'expired']),
  stored: z.boolean().describe('false once the object and its key were shredded'),
  createdAt: z.string(),
  expiresAt: z.string(),
  decidedBy: z.string().nullable(),
});

export const contentCommandRoutes: readonly RouteSpec[] = [
  commandRoute({
    operationId: 'releaseContent',
    path: '/content/:inspectionId/release',
    summary:
      'A moderator releases quarantined content with a reason (recorded as content.released); its copy is shredded and the publisher may submit it again, once',
    tag: 'kernel',
    roles: COMMAND_ROLES.ModerateContent,
    input: moderateContentInputSchema,
    pathKeys: ['inspectionId'],
    handler: releaseContent,
  }),
  commandRoute({
    operationId: 'deleteContent',
    path: '/content/:inspectionId/delete',
    summary: 'A moderator deletes quarantined content with a reason (recorded as content.deleted; crypto-shredded)',
    tag: 'kernel',
    roles: COMMAND_ROLES.ModerateContent,
    input: moderateContentInputSchema,
    pathKeys: ['inspectionId'],
    handler: deleteContent,
  }),
  commandRoute({
    operationId: 'expireQuarantine',
    path: '/content/expire',
    summary:
      'Run one pass of the expiry job now: held content past QUARANTINE_EXPIRY_HOURS is shredded and recorded as content.expired',
    tag: 'kernel',
    roles: COMMAND_ROLES.ExpireContent,
    input: expireQuarantineInputSchema,
    handler: expireQuarantine,
    extra: { expired: z.array(z.string()).optional().describe('the inspection ids shredded') },
  }),
];

export const contentRoutes: readonly RouteSpec[] = [
  defineRoute({
    method: 'get',
    path: '/content/quarantine',
    operationId: 'listQuarantine',
    summary: 'Quarantined content by status (held by default), without the content: moderators only',
    tag: 'kernel',
    routeClass: 'query',
    roles: READ_ROLES.quarantine,
    query: z.object({
      status: z.enum(['held', 'released', 'deleted', 'expired']).optional(),
      after: idParameter.optional(),
    }),
    response: z.object({ records: z.array(recordSchema) }),
    errors: [...QUERY_ERRORS, 409],
    async handle({ query }, services) {
      const records = await vaultOf(services).list(query.status ?? 'held', LIST_PAGE_RECORDS, query.after ?? '');
      return { body: { records } };
    },
  }),
  defineRoute({
    method: 'post',
    path: '/content/:inspectionId/view-link',
    operationId: 'issueContentViewLink',
    summary: 'A moderator gets a link to view held content, valid QUARANTINE_LINK_TTL_SECONDS (300 s by default)',
    tag: 'kernel',
    routeClass: 'command',
    roles: READ_ROLES.quarantine,
    params: z.object({ inspectionId: idParameter }),
    response: z.object({ url: z.string(), expiresAt: z.string() }),
    errors: [...QUERY_ERRORS, 404, 409],
    async handle(request, services) {
      const vault = vaultOf(services);
      const { inspectionId } = request.params;
      const record = await vault.record(inspectionId);
      if (record === undefined) throw new CodedError('CONTENT_NOT_FOUND', `no quarantined content ${inspectionId}`);
      if (record.status !== 'held' || !record.stored)
        throw new CodedError('CONTENT_NOT_HELD', `quarantined content ${inspectionId} is ${record.status}`, {
          inspectionId,
          status: record.status,
        });
      const ttlMs = services.config.content.quarantine.linkTtlSeconds * 1000;
      const expiresAt = new Date(Date.parse(services.now()) + ttlMs).toISOString();
      const links = viewLinks(services.config.content.quarantine.masterKey!);
      const baseUrl = baseUrlOf(services, request.header('host'), request.header('x-forwarded-proto'));
      services.logger.info({ inspectionId, moderator: request.actor!.id, expiresAt }, 'quarantine: view link issued');
      return { body: { url: links.url(inspectionId, expiresAt, baseUrl), expiresAt } };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/content/:inspectionId/view',
    operationId: 'viewQuarantinedContent',
    summary:
      'A view link as issued: the held content, decrypted and checked (a tampered object is refused, never served); no token, the link is the capability',
    tag: 'kernel',
    routeClass: 'query',
    roles: 'public',
    params: z.object({ inspectionId: idParameter }),
    query: z.object({ expires: z.string().max(40), signature: z.string().max(100) }),
    response: z.string(),
    responseContentType: 'application/octet-stream',
    responseDescription: 'the quarantined content as submitted',
    errors: [400, 403, 404, 409, 410, 429, 503],
    async handle({ params, query }, services) {
      const vault = services.app.content.vault;
      const masterKey = services.config.content.quarantine.masterKey;
      const invalid = () => new HttpError('QUARANTINE_LINK_INVALID', 'this is not a view link that was issued', {});
      if (vault === undefined || masterKey === undefined) throw invalid();
      if (!viewLinks(masterKey).signatureValid(params.inspectionId, query.expires, query.signature)) throw invalid();
      if (!(Date.parse(services.now()) < Date.parse(query.expires)))
        throw new HttpError('QUARANTINE_LINK_EXPIRED', 'the view link expired: ask for a fresh one', {
          expiresAt: query.expires,
        });
      const { record, content } = await vault.open(params.inspectionId);
      return {
        stream: {
          contentType: 'application/octet-stream',
          contentLength: content.length,
          body: (async function* () {
            yield content;
          })(),
        },
        headers: {
          'Content-Disposition': `attachment; filename="${record.inspectionId}.quarantined"`,
          'X-Declared-Content-Type': record.contentType,
          // Held content may be HTML or SVG: a browser must neither sniff nor render it from the API's origin.
          'X-Content-Type-Options': 'nosniff',
          'Content-Security-Policy': "default-src 'none'; sandbox",
          'Cache-Control': 'no-store',
        },
      };
    },
  }),
];
