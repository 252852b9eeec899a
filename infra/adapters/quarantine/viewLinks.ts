/**
 * Moderators' view links to quarantined content: the API's route
 * `GET /content/{inspectionId}/view?expires=…&signature=…`, where the
 * signature is HMAC-SHA256 of `inspectionId \n expires` under a key derived
 * from ENCRYPTION_MASTER_KEY (so that nothing else needs configuring, and a
 * new master key voids every link). Links expire after
 * QUARANTINE_LINK_TTL_SECONDS (300 by default). The route decrypts and checks
 * the object before it serves a byte; an S3 pre-signed URL would serve the
 * ciphertext, so links never point at the bucket.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export interface ViewLinks {
  url(inspectionId: string, expiresAt: string, baseUrl: string): string;
  signatureValid(inspectionId: string, expiresAt: string, signature: string): boolean;
}

export function viewLinks(masterKey: Buffer): ViewLinks {
  const key = createHash('sha256').update('chainbook-quarantine-view-link\n').update(masterKey).digest();
  const sign = (inspectionId: string, expiresAt: string) =>
    createHmac('sha256', key).update(`${inspectionId}\n${expiresAt}`, 'utf8').digest();
  return {
    url(inspectionId, expiresAt, baseUrl) {
      const query = new URLSearchParams({
        expires: expiresAt,
        signature: sign(inspectionId, expiresAt).toString('base64url'),
      });
      return `${baseUrl}/content/${encodeURIComponent(inspectionId)}/view?${query}`;
    },
    signatureValid(inspectionId, expiresAt, signature) {
      const given = Buffer.from(signature, 'base64url');
      const expected = sign(inspectionId, expiresAt);
      return given.length === expected.length && timingSafeEqual(given, expected);
    },
  };
}
