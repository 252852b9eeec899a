/**
 * Delivery over HTTP (docs/DOMAIN.md, "Delivery"): the buyer asks for its
 * delivery and gets a short-lived link (recorded); reads the delivery's state
 * and its signed proof; fetches the managed data key (Option B). The download
 * route serves a recorded, unexpired link of a delivery that is not revoked,
 * on the embedded default (with S3, links are pre-signed GETs of the bucket).
 */
import { z } from 'zod';
import {
  prepareDelivery,
  prepareDeliveryInputSchema,
  releaseDataKey,
  requestDelivery,
  type DeliveryAnswer,
} from '../../../../commands/delivery/deliverOrder.ts';
import { hasRole, type Actor } from '../../../../domain/actor.ts';
import { COMMAND_ROLES, READ_ROLES } from '../../../../domain/authorization.ts';
import { CodedError } from '../../../../domain/errors.ts';
import {
  DELIVERY_STATUSES,
  findDelivery,
  findDeliveryLink,
  findDeliveryProof,
} from '../../../../projections/delivery/deliveryQueries.ts';
import { findOrderFor } from '../../../../projections/orders/orderQueries.ts';
import { commandResponseSchema, commandRoute, runCommand } from '../commandRoute.ts';
import { HttpError } from '../errors.ts';
import { withInclusion } from './inclusion.ts';
import { parseIdempotencyKey } from '../idempotency.ts';
import { COMMAND_ERRORS, defineRoute, QUERY_ERRORS, type HttpServices, type RouteSpec } from '../route.ts';
import { idParameter, notFound } from './queryCommon.ts';

const keyProvenanceSchema = z
  .record(z.string(), z.unknown())
  .describe(
    "whose key the content key is wrapped to: {type: 'buyer-key', keyType, spkiSha256} or {type: 'managed-key', keyId, origin, wrappingKeyId, …}",
  );

const deliveryAnswerShape = {
  orderId: z.string(),
  deliveryId: z.string(),
  objectKey: z.string(),
  ciphertextSha256: z.string().describe('SHA-256 of the envelope as downloaded'),
  ciphertextBytes: z.number().int(),
  keyProvenance: keyProvenanceSchema,
  proofId: z.string().describe('the signed delivery proof: GET /orders/{orderId}/delivery/proof'),
};

const deliverySchema = z.object({
  orderId: z.string(),
  deliveryId: z.string().nullable(),
  buyerId: z.string(),
  status: z.enum(DELIVERY_STATUSES),
  objectKey: z.string().nullable(),
  artifactSha256: z.string().nullable(),
  ciphertextSha256: z.string().nullable(),
  ciphertextBytes: z.number().int().nullable(),
  algorithm: z.string().nullable(),
  keyProvenance: keyProvenanceSchema.nullable(),
  manifestSignatureId: z.string().nullable(),
  ledgerProofId: z.string().nullable(),
  preparedSeq: z.number().int().nullable(),
  proofId: z.string().nullable(),
  linksIssued: z.number().int(),
  failures: z.number().int(),
  lastFailure: z.object({ code: z.string(), reason: z.string() }).nullable(),
  updatedSeq: z.number().int(),
});

/**
 * The API's public URL for route links: DELIVERY_LINK_BASE_URL, else the
 * address the request came to, https when this server speaks TLS itself
 * (a link is a bearer capability: never sent back as http://).
 */
export function baseUrlOf(
  services: Pick<HttpServices, 'config' | 'http'>,
  host: string | undefined,
  forwardedProto: string | undefined,
): string {
  if (services.config.delivery.linkBaseUrl !== undefined) return services.config.delivery.linkBaseUrl;
  const protocol = services.http.tls !== undefined || forwardedProto === 'https' ? 'https' : 'http';
  if (host === undefined || !/^[A-Za-z0-9.:[\]-]{1,255}$/.test(host))
    throw new HttpError('INVALID_HEADER', 'Host is missing or malformed; set DELIVERY_LINK_BASE_URL', {
      header: 'Host',
    });
  return `${protocol}://${host}`;
}

/** The buyer of the order, or a reader of the ledger (finance, Auditors); others see no such order. */
async function readableDelivery(services: HttpServices, actor: Actor, orderId: string) {
  const order = await findOrderFor(services.db, actor, orderId);
  const allowed =
    order !== undefined &&
    (hasRole(actor, READ_ROLES.ledger) || (actor.role === 'Buyer' && order.buyerId === actor.id));
  if (!allowed) throw notFound('ORDER_NOT_FOUND', 'order');
  return order;
}

/** The delivery commands (mounted with the other command routes). */
export const deliveryCommandRoutes: readonly RouteSpec[] = [
  defineRoute({
    method: 'post',
    path: '/orders/:orderId/delivery',
    operationId: 'requestDelivery',
    summary:
      'The buyer asks for its finalized order: the artifact is encrypted for its key (or a managed key) and stored if it is not yet, and a fresh link valid DELIVERY_LINK_TTL is issued and recorded',
    tag: 'marketplace',
    routeClass: 'command',
    roles: COMMAND_ROLES.RequestDelivery,
    params: z.object({ orderId: idParameter }),
    headers: [
      {
        name: 'Idempotency-Key',
        required: false,
        schema: { type: 'string', maxLength: 200 },
        description: 'A retry with the same key returns the first link and records nothing.',
      },
    ],
    response: commandResponseSchema.extend({
      ...deliveryAnswerShape,
      link: z.object({
        linkId: z.string(),
        expiresAt: z.string(),
        url: z.string().describe('GET it (no token) until expiresAt: the delivery envelope, docs/FORMAT.md section 11'),
      }),
    }),
    errors: [...COMMAND_ERRORS, 410],
    async handle(request, services) {
      const { orderId } = request.params;
      const result = await runCommand(services, {
        operationId: 'requestDelivery',
        handler: requestDelivery,
        actor: request.actor!,
        input: { orderId },
        idempotencyKey: parseIdempotencyKey(request.header('idempotency-key')),
        request,
      });
      const body = result.body as Partial<DeliveryAnswer> & Record<string, unknown>;
      if (!body.link || !body.objectKey)
        throw new CodedError('DELIVERY_NOT_PREPARED', 'the delivery is not prepared', {});
      const baseUrl = baseUrlOf(services, request.header('host'), request.header('x-forwarded-proto'));
      const url = await services.app.delivery.links
        .url(
          { orderId, linkId: body.link.linkId, objectKey: body.objectKey, expiresAt: body.link.expiresAt },
          baseUrl,
          Date.parse(services.now()),
        )
        .catch((error: unknown) => {
          // The link is recorded; only its URL could not be made (an S3 client without credentials): ask again.
          throw new CodedError(
            'DELIVERY_UNAVAILABLE',
            `the link's URL could not be made (${(error as Error).name})`,
            {},
          );
        });
      return { ...result, body: { ...body, link: { ...body.link, url } } };
    },
  }),
  commandRoute({
    operationId: 'prepareDelivery',
    path: '/orders/:orderId/delivery/prepare',
    summary:
      'Prepare (or retry after a recorded failure) the delivery of a finalized order, without issuing a link: the delivery service or an operator',
    tag: 'marketplace',
    roles: COMMAND_ROLES.PrepareDelivery,
    input: prepareDeliveryInputSchema,
    pathKeys: ['orderId'],
    handler: prepareDelivery,
    extra: Object.fromEntries(Object.entries(deliveryAnswerShape).map(([key, schema]) => [key, schema.optional()])),
  }),
];

/** The object's chunks; removed between its head and its first read (a sweep, a refund), it is gone: 410, not 500. */
async function* openedOrGone(body: AsyncIterable<Uint8Array>, gone: () => Error): AsyncIterable<Uint8Array> {
  const iterator = body[Symbol.asyncIterator]();
  let first: IteratorResult<Uint8Array>;
  try {
    first = await iterator.next();
  } catch {
    throw gone();
  }
  if (first.done) return;
  yield first.value;
  for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield next.value;
}

export const deliveryRoutes: readonly RouteSpec[] = [
  defineRoute({
    method: 'get',
    path: '/orders/:orderId/delivery',
    operationId: 'getDelivery',
    summary:
      "An order's delivery: status, ciphertext, key provenance, proof id, links issued, failures (its buyer, finance, Auditors)",
    tag: 'marketplace',
    routeClass: 'query',
    roles: READ_ROLES.orders,
    params: z.object({ orderId: idParameter }),
    response: deliverySchema,
    errors: [...QUERY_ERRORS, 404],
    async handle({ params, actor }, services) {
      await readableDelivery(services, actor!, params.orderId);
      const delivery = await findDelivery(services.db, params.orderId);
      if (!delivery) throw notFound('DELIVERY_NOT_FOUND', 'delivery');
      return { body: delivery };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/orders/:orderId/delivery/proof',
    operationId: 'getDeliveryProof',
    summary:
      'The signed delivery proof (docs/FORMAT.md section 13), rebuilt from the chain, with `inclusion`, the inclusion proof file of its `delivery.prepared` record, once a published checkpoint covers it (section 14): check it with `chainbook verify-proof` or OpenSSL',
    tag: 'marketplace',
    routeClass: 'query',
    roles: READ_ROLES.orders,
    params: z.object({ orderId: idParameter }),
    response: z.record(z.string(), z.unknown()).describe('the signed delivery proof document'),
    errors: [...QUERY_ERRORS, 404],
    async handle({ params, actor }, services) {
      await readableDelivery(services, actor!, params.orderId);
      const proof = await findDeliveryProof(services.db, params.orderId);
      if (proof === undefined) throw notFound('PROOF_NOT_FOUND', 'delivery proof');
      // The delivery.prepared record proven in the tree, once a published checkpoint covers it (docs/FORMAT.md section 14).
      const document = proof as { chain: string; delivery_seq: number };
      return { body: await withInclusion(services, document, document.chain, document.delivery_seq) };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/orders/:orderId/delivery/key',
    operationId: 'getDeliveryKey',
    summary:
      "Option B: the order's managed data key as a JWK (A256KW), for `chainbook delivery decrypt --key`; only the order's buyer",
    tag: 'marketplace',
    routeClass: 'query',
    roles: READ_ROLES.deliveryKey,
    params: z.object({ orderId: idParameter }),
    response: z.object({
      orderId: z.string(),
      deliveryId: z.string(),
      keyId: z.string(),
      origin: z.string(),
      jwk: z.object({ kty: z.literal('oct'), k: z.string(), alg: z.literal('A256KW'), kid: z.string() }),
    }),
    errors: [...QUERY_ERRORS, 404, 409, 503],
    async handle({ params, actor }, services) {
      return { body: await releaseDataKey(services.deps, { orderId: params.orderId }, actor!) };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/deliveries/:orderId/:linkId',
    operationId: 'downloadDelivery',
    summary:
      'A download link as issued (embedded default): the delivery envelope, until the link expires or the delivery is revoked; no token, the link is the capability',
    tag: 'marketplace',
    routeClass: 'query',
    roles: 'public',
    params: z.object({ orderId: idParameter, linkId: idParameter }),
    query: z.object({
      expires: z.string().max(40),
      signature: z.string().max(100),
    }),
    response: z.string(),
    responseContentType: 'application/octet-stream',
    responseDescription: 'the delivery envelope (docs/FORMAT.md section 11)',
    errors: [400, 403, 404, 410, 429],
    async handle({ params, query }, services) {
      const route = services.app.delivery.route;
      const invalid = () => new HttpError('DELIVERY_LINK_INVALID', 'this is not a download link that was issued', {});
      if (!route) throw invalid();
      const link = await findDeliveryLink(services.db, params.linkId);
      if (!link || link.orderId !== params.orderId || link.expiresAt !== query.expires) throw invalid();
      if (!route.signatureValid(link, query.signature)) throw invalid();
      if (!link.live || Date.parse(services.now()) >= Date.parse(link.expiresAt))
        throw new HttpError(
          'DELIVERY_LINK_EXPIRED',
          'the link expired or its delivery was revoked: ask for a fresh link',
          {
            expiresAt: link.expiresAt,
          },
        );
      const gone = () =>
        new HttpError('DELIVERY_LINK_EXPIRED', 'the delivery is no longer stored: ask for a fresh link', {});
      const { store } = services.app.delivery;
      // One after the other: a body is opened only for an object that is there, and never left open.
      const head = await store.head(link.objectKey).catch(() => undefined);
      const body = head && (await store.get(link.objectKey).catch(() => undefined));
      if (!head || !body) throw gone();
      return {
        stream: {
          contentType: 'application/octet-stream',
          contentLength: head.sizeBytes,
          body: openedOrGone(body, gone),
        },
        headers: { 'Content-Disposition': `attachment; filename="${link.orderId}.delivery"` },
      };
    },
  }),
];
