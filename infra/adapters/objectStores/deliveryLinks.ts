/**
 * Download links of deliveries (docs/DOMAIN.md, "Delivery"): bearer URLs
 * that fetch one ciphertext until the link's expiry, as the buyer was given
 * them. Over S3, a pre-signed GET of the object (the bucket serves it, our
 * API is not in the path). On the embedded default, the API's own route
 * `GET /deliveries/{orderId}/{linkId}?expires=…&signature=…`, where the
 * signature is HMAC-SHA256 under the link key of
 * `orderId \n linkId \n objectKey \n expires`; the route also checks that the
 * link was recorded and the delivery not revoked.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { S3BlobStore } from './s3BlobStore.ts';

export interface DeliveryLink {
  orderId: string;
  linkId: string;
  objectKey: string;
  /** RFC 3339 UTC. */
  expiresAt: string;
}

export interface DeliveryLinks {
  /** `route` links are served by GET /deliveries/{orderId}/{linkId}; `s3` links by the bucket. */
  readonly kind: 'route' | 's3';
  /** The URL of a link; `baseUrl` is the API's public URL (route links). */
  url(link: DeliveryLink, baseUrl: string, nowMs: number): Promise<string>;
}

function routeSignature(key: Buffer, link: DeliveryLink): Buffer {
  return createHmac('sha256', key)
    .update(`${link.orderId}\n${link.linkId}\n${link.objectKey}\n${link.expiresAt}`, 'utf8')
    .digest();
}

/** Links to the API's own download route, signed with the link key. */
export function routeLinks(
  key: Buffer,
): DeliveryLinks & { signatureValid(link: DeliveryLink, signature: string): boolean } {
  return {
    kind: 'route',
    async url(link, baseUrl) {
      const query = new URLSearchParams({
        expires: link.expiresAt,
        signature: routeSignature(key, link).toString('base64url'),
      });
      return `${baseUrl}/deliveries/${encodeURIComponent(link.orderId)}/${encodeURIComponent(link.linkId)}?${query}`;
    },
    signatureValid(link, signature) {
      const given = Buffer.from(signature, 'base64url');
      const expected = routeSignature(key, link);
      return given.length === expected.length && timingSafeEqual(given, expected);
    },
  };
}

/** S3 pre-signed GETs of the delivery bucket's objects, valid until the link's expiry. */
export function s3PresignedLinks(store: S3BlobStore): DeliveryLinks {
  return {
    kind: 's3',
    async url(link, _baseUrl, nowMs) {
      const expiresIn = Math.max(1, Math.round((Date.parse(link.expiresAt) - nowMs) / 1000));
      const command = new GetObjectCommand({ Bucket: store.location.bucket, Key: store.key(link.objectKey) });
      return getSignedUrl(store.client, command, { expiresIn });
    },
  };
}
