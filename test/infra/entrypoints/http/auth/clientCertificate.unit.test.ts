/**
 * What a TLS connection says about its client certificate
 * (infra/entrypoints/http/auth/clientCertificate.ts), over real TLS
 * connections with certificates made by the openssl CLI; and which
 * actor MTLS_ROLE_MAP makes of a certificate.
 */
import { readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { connect, createServer, type TLSSocket } from 'node:tls';
import test, { type ExecutionContext } from 'ava';
import {
  certificateActor,
  clientCertificateOf,
  type ClientCertificate,
} from '../../../../../infra/entrypoints/http/auth/clientCertificate.ts';
import { parseRoleMap, type MtlsRoleMap } from '../../../../../infra/wiring/tlsConfig.ts';
import { issue, issueServer, makeCa, type Issued } from '../../../../helpers/certificates.ts';
import { tempDir } from '../../../../helpers/runtime.ts';

const folder = tempDir('client-certificate');
test.after.always(() => rmSync(folder, { recursive: true, force: true }));
const ca = makeCa(folder, 'ca');
const otherCa = makeCa(folder, 'other-ca');
const server = issueServer(folder, ca);

/** The server side of one connection presenting `client` (none when undefined), and what it tells; closed after the test. */
async function accepted(
  t: ExecutionContext,
  client: Issued | undefined,
): Promise<{ socket: TLSSocket; certificate: ClientCertificate }> {
  const listener = createServer({
    cert: readFileSync(server.cert),
    key: readFileSync(server.key),
    ca: readFileSync(ca.cert),
    requestCert: true,
    rejectUnauthorized: false,
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const serverSide = new Promise<TLSSocket>((resolve) => listener.once('secureConnection', resolve));
  const clientSide = connect({
    host: '127.0.0.1',
    port: (listener.address() as AddressInfo).port,
    ca: readFileSync(ca.cert),
    ...(client ? { cert: readFileSync(client.cert), key: readFileSync(client.key) } : {}),
  });
  clientSide.on('error', () => undefined);
  const socket = await serverSide;
  t.teardown(() => {
    clientSide.destroy();
    socket.destroy();
    listener.close();
  });
  return { socket, certificate: clientCertificateOf(socket)! };
}

test("a certificate of the trusted CA is verified, with its CN and SAN URIs; another CA's and none are not", async (t) => {
  const good = issue(folder, ca, 'good', { commonName: 'settlement-svc', altNames: ['URI:spiffe://test/sa/settle'] });
  const { certificate } = await accepted(t, good);
  t.like(certificate, { presented: true, verified: true, error: undefined, commonName: 'settlement-svc' });
  t.deepEqual(certificate.uris, ['spiffe://test/sa/settle']);

  const foreign = await accepted(t, issue(folder, otherCa, 'foreign', { commonName: 'settlement-svc' }));
  t.like(foreign.certificate, { presented: true, verified: false, commonName: 'settlement-svc' });
  t.regex(String(foreign.certificate.error), /UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT/);

  t.like((await accepted(t, undefined)).certificate, { presented: false, verified: false, commonName: undefined });
});

test('a later handshake that did not verify (node leaves `authorized` true from the first) makes the certificate unverified', async (t) => {
  const good = issue(folder, ca, 'first', { commonName: 'stranger-svc' });
  const { socket, certificate } = await accepted(t, good);
  t.true(certificate.verified);
  // What node's TLSSocket holds after a renegotiation that presented another CA's certificate: `authorized` set by the
  // first handshake and never cleared, `authorizationError` set by the second (reproduced with an OpenSSL client).
  // (node stores OpenSSL's code, a string, where its types say Error)
  socket.authorizationError = 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' as unknown as Error;
  t.true(socket.authorized);
  const after = clientCertificateOf(socket)!;
  t.false(after.verified);
  t.is(after.error, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
});

test('several CNs name no subject; a SAN URI that node had to quote (a comma inside) is not read as two', async (t) => {
  const twoNames = await accepted(t, issue(folder, ca, 'two-cns', { commonName: 'publisher-svc/CN=settlement-svc' }));
  t.true(twoNames.certificate.verified);
  t.is(twoNames.certificate.commonName, undefined);
  const quoted = await accepted(
    t,
    issue(folder, ca, 'quoted-uri', {
      commonName: 'x',
      altNamesSection: ['URI.1=spiffe://test/a, URI:spiffe://test/sa/admin'],
    }),
  );
  t.true(quoted.certificate.verified);
  t.deepEqual(quoted.certificate.uris, []);
});

const ROLE_MAP = parseRoleMap(
  'settlement-svc=Service,root-svc=SuperAdmin,spiffe://test/sa/reader=Auditor,spiffe://test/sa/admin=SuperAdmin',
) as MtlsRoleMap;

function verified(commonName: string | undefined, uris: string[] = []): ClientCertificate {
  return { presented: true, verified: true, error: undefined, commonName, uris };
}

test('a certificate with SAN URIs is named by them alone: an unmapped URI does not fall back to a mapped CN', (t) => {
  t.deepEqual(certificateActor(verified('settlement-svc'), ROLE_MAP), { id: 'mtls:settlement-svc', role: 'Service' });
  t.deepEqual(certificateActor(verified('root-svc', ['spiffe://test/sa/reader']), ROLE_MAP), {
    id: 'mtls:spiffe:test:sa:reader',
    role: 'Auditor',
  });
  // A workload's SVID (its URI has no role) whose CN is a mapped name: no role.
  t.is(certificateActor(verified('root-svc', ['spiffe://test/sa/billing']), ROLE_MAP), undefined);
  // Two mapped URIs are two identities: none is chosen by their order in the certificate.
  t.is(
    certificateActor(verified(undefined, ['spiffe://test/sa/reader', 'spiffe://test/sa/admin']), ROLE_MAP),
    undefined,
  );
  t.deepEqual(certificateActor(verified(undefined, ['spiffe://test/sa/x', 'spiffe://test/sa/reader']), ROLE_MAP), {
    id: 'mtls:spiffe:test:sa:reader',
    role: 'Auditor',
  });
});
