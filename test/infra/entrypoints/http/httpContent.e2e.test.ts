/**
 * Content inspection over HTTP (docs/DOMAIN.md, "Content inspection"): refusals
 * in the error format, moderation by admins only, view links that expire and
 * are served only when the held object checks, and /ready covering the
 * inspector and the quarantine store.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { awsAccessKeyId } from '../../../helpers/hostileContent.ts';
import { PRODUCT, testServer } from '../../../helpers/http.ts';

const env = {
  QUARANTINE_ENABLED: 'true',
  ENCRYPTION_MASTER_KEY: randomBytes(32).toString('base64'),
  CONTENT_QUARANTINE_WORDS: 'keygen',
};

test('/ready covers the content inspector and the quarantine store', async (t) => {
  const server = await testServer(t, { env });
  const ready = await server.request('GET', '/ready');
  t.is(ready.status, 200, ready.text);
  t.like(ready.body.checks, { inspection: { ok: true }, quarantine: { ok: true } });
});

test('/ready is not ready when a plugin cannot run (yara missing)', async (t) => {
  const server = await testServer(t, { env: { ...env, YARA_PATH: '/nonexistent/yara' } });
  const ready = await server.request('GET', '/ready');
  t.is(ready.status, 503);
  t.false(ready.body.checks.inspection.ok);
  t.regex(ready.body.checks.inspection.message, /yara/);
});

test('over HTTP: a blocked manifest is 422 CONTENT_BLOCKED, a held one 409 CONTENT_QUARANTINED; moderators view it through an expiring link and release it', async (t) => {
  const server = await testServer(t, { env });
  const blocked = await server.request('POST', '/manifests', {
    as: 'publisher',
    body: { ...PRODUCT, name: `tool ${awsAccessKeyId()}` },
  });
  t.is(blocked.status, 422, blocked.text);
  t.is(blocked.body.error.code, 'CONTENT_BLOCKED');
  const held = await server.request('POST', '/manifests', {
    as: 'publisher',
    body: { ...PRODUCT, name: 'keygen pro' },
  });
  t.is(held.status, 409, held.text);
  t.is(held.body.error.code, 'CONTENT_QUARANTINED');
  const inspectionId = held.body.error.details.inspectionId as string;
  // Not for publishers, buyers, services or auditors.
  for (const as of ['publisher', 'buyer', 'service', 'auditor'] as const) {
    t.is((await server.request('GET', '/content/quarantine', { as })).status, 403, as);
    t.is((await server.request('POST', `/content/${inspectionId}/view-link`, { as })).status, 403, as);
    const release = await server.request('POST', `/content/${inspectionId}/release`, { as, body: { reason: 'ok' } });
    t.is(release.status, 403, as);
  }
  const list = await server.request('GET', '/content/quarantine', { as: 'operator' });
  t.deepEqual(
    list.body.records.map((record: { inspectionId: string }) => record.inspectionId),
    [inspectionId],
  );
  const link = await server.request('POST', `/content/${inspectionId}/view-link`, { as: 'operator' });
  t.is(link.status, 200, link.text);
  const expiresInMs = Date.parse(link.body.expiresAt) - Date.now();
  t.true(expiresInMs > 290_000 && expiresInMs <= 300_000, String(expiresInMs));
  const viewed = await fetch(link.body.url);
  t.is(viewed.status, 200);
  // Held content may be HTML or SVG: never rendered from the API's origin.
  t.is(viewed.headers.get('content-type'), 'application/octet-stream');
  t.regex(viewed.headers.get('content-disposition') ?? '', /^attachment;/);
  t.is(viewed.headers.get('x-content-type-options'), 'nosniff');
  t.is(viewed.headers.get('cache-control'), 'no-store');
  t.true((await viewed.text()).includes('keygen pro'));
  const forged = await fetch(link.body.url.replace(/signature=[^&]+/, 'signature=AAAA'));
  t.is(forged.status, 403);
  const stale = new URL(link.body.url);
  stale.searchParams.set('expires', new Date(Date.now() - 1000).toISOString());
  t.is((await fetch(stale)).status, 403, 'an altered expiry breaks the signature');
  // A tampered object: reported, never served.
  const folder = join(server.services.config.content.quarantine.folder, 'quarantine');
  const [file] = readdirSync(folder);
  const bytes = readFileSync(join(folder, file!));
  bytes[0] = bytes[0]! ^ 0xff;
  writeFileSync(join(folder, file!), bytes);
  const tampered = await fetch(link.body.url);
  t.is(tampered.status, 409);
  const body = (await tampered.json()) as { error: { code: string } };
  t.is(body.error.code, 'QUARANTINE_TAMPERED');
  const released = await server.request('POST', `/content/${inspectionId}/release`, {
    as: 'operator',
    body: { reason: 'a license key generator for our own product' },
  });
  t.is(released.status, 200, released.text);
  const again = await server.request('POST', `/content/${inspectionId}/release`, {
    as: 'operator',
    body: { reason: 'x' },
  });
  t.is(again.status, 409);
  t.is(again.body.error.code, 'CONTENT_NOT_HELD');
  const metrics = (await server.request('GET', '/metrics')).text;
  t.regex(metrics, /content_decisions_total\{tier="BLOCK",subject="manifest"\} [1-9]/);
  t.regex(metrics, /content_decisions_total\{tier="QUARANTINE",subject="manifest"\} [1-9]/);
  t.regex(metrics, /content_inspection_duration_seconds_bucket\{le="0.5",subject="manifest",tier="BLOCK"\} [1-9]/);
});
