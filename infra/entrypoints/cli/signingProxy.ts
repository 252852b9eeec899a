/**
 * `chainbook signing-proxy`: serves POST /sign and GET /health in front of the
 * configured signer (SIGNING_BACKEND=pkcs11 or kms; local only outside
 * production), for the clients of SIGNING_PROXY_CLIENTS. Runs until SIGINT or
 * SIGTERM. One JSON line per request on stdout.
 */
import { withMetricsPort } from './metricsPort.ts';
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { loadConfig } from '../../wiring/config.ts';
import { refusingPlaceholders } from '../../wiring/devPlaceholders.ts';
import { startSigningProxy } from '../signingProxy/proxyServer.ts';
import { openSigning } from '../../wiring/signing.ts';
import { EXIT, parseCount, UsageError } from './io.ts';

interface ProxyOptions {
  host: string;
  port: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsClientCa?: string;
}

async function run(options: ProxyOptions): Promise<number> {
  // The laptop stack's client keys (deploy/compose/compose.yaml) are refused in production.
  const loaded = refusingPlaceholders(process.env, () => loadConfig());
  if (loaded.signing.backend === 'proxy')
    throw new UsageError('the signing proxy signs with kms, pkcs11 (or local in development), not with another proxy');
  if (loaded.signing.proxyClients.length === 0)
    throw new UsageError('SIGNING_PROXY_CLIENTS must name at least one client: name:key,…');
  if ((options.tlsCert === undefined) !== (options.tlsKey === undefined))
    throw new UsageError('--tls-cert and --tls-key go together');
  if (options.tlsClientCa !== undefined && options.tlsCert === undefined)
    throw new UsageError('--tls-client-ca needs --tls-cert and --tls-key');
  // Session keys belong to the writer, not to the proxy.
  const config = { ...loaded, signing: { ...loaded.signing, sessionKeys: false } };
  const { signer } = await openSigning(config);
  const proxy = await startSigningProxy({
    signer,
    clients: config.signing.proxyClients,
    host: options.host,
    port: parseCount(options.port, '--port', 0),
    ...(options.tlsCert !== undefined
      ? {
          tls: {
            cert: readFileSync(options.tlsCert),
            key: readFileSync(options.tlsKey!),
            ...(options.tlsClientCa === undefined ? {} : { clientCa: readFileSync(options.tlsClientCa) }),
          },
        }
      : {}),
  });
  process.stderr.write(`signing proxy for ${signer.kid} (${signer.description}) listening on ${proxy.url}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await proxy.close();
  await signer.close();
  return EXIT.ok;
}

export function registerSigningProxy(program: Command, exit: (code: number) => void): void {
  program
    .command('signing-proxy')
    .description(
      'serve POST /sign and GET /health in front of the configured signer, API keys from SIGNING_PROXY_CLIENTS (name:key,…)',
    )
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0: any free port)', '8443')
    .option('--tls-cert <file>', 'serve HTTPS with this certificate (PEM)')
    .option('--tls-key <file>', 'and this private key (PEM)')
    .option(
      '--tls-client-ca <file>',
      'mTLS: accept only clients presenting a certificate of this CA (PEM); their API key is still checked',
    )
    .action(async (options: ProxyOptions) => exit(await withMetricsPort('signing-proxy', () => run(options))));
}
