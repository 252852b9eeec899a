/**
 * The base of delivery and quarantine view links (routes/delivery.ts
 * baseUrlOf): a link is a bearer capability, so a server that speaks HTTPS
 * itself never hands one out as http://.
 */
import test from 'ava';
import { baseUrlOf } from '../../../../infra/entrypoints/http/routes/delivery.ts';
import type { HttpServices } from '../../../../infra/entrypoints/http/route.ts';
import type { TlsConfig } from '../../../../infra/wiring/tlsConfig.ts';

function services(options: { tls?: boolean; linkBaseUrl?: string }): Pick<HttpServices, 'config' | 'http'> {
  return {
    config: { delivery: { linkBaseUrl: options.linkBaseUrl } },
    http: { tls: options.tls ? ({} as TlsConfig) : undefined },
  } as unknown as Pick<HttpServices, 'config' | 'http'>;
}

test('over HTTPS the links are https://, whatever X-Forwarded-Proto says', (t) => {
  t.is(baseUrlOf(services({ tls: true }), 'api.example:8443', undefined), 'https://api.example:8443');
  t.is(baseUrlOf(services({ tls: true }), 'api.example:8443', 'http'), 'https://api.example:8443');
});

test('over plain HTTP: http://, or https:// behind a proxy that says so; DELIVERY_LINK_BASE_URL wins', (t) => {
  t.is(baseUrlOf(services({}), '127.0.0.1:8080', undefined), 'http://127.0.0.1:8080');
  t.is(baseUrlOf(services({}), 'api.example', 'https'), 'https://api.example');
  t.is(baseUrlOf(services({ tls: true, linkBaseUrl: 'https://cdn.example' }), 'x', undefined), 'https://cdn.example');
});
