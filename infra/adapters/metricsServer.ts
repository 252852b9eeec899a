/**
 * GET /metrics for the long-running processes that are not the HTTP API
 * (`export --every`, `relay`, `index`, `witness`, `signing-proxy`): a bare
 * node:http server on METRICS_PORT serving the same registry as the API's
 * /metrics, so that what these processes count can be scraped. Anything but
 * GET or HEAD /metrics is 404 or 405; nothing else is served.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { metricsRegistry } from './metrics.ts';

export interface MetricsServer {
  /** The port bound (the one asked, or the one chosen for port 0). */
  port: number;
  close(): Promise<void>;
}

/** How long a scrape may keep a connection open before it is cut. */
const SCRAPE_TIMEOUT_MS = 10_000;

export async function startMetricsServer(port: number, host: string): Promise<MetricsServer> {
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '').split('?')[0];
    if (path !== '/metrics') {
      response.writeHead(404, { 'Content-Type': 'text/plain' }).end('only /metrics is served here\n');
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end('use GET\n');
      return;
    }
    metricsRegistry.metrics().then(
      (text) => {
        response.writeHead(200, { 'Content-Type': metricsRegistry.contentType, 'Cache-Control': 'no-store' });
        response.end(request.method === 'HEAD' ? undefined : text);
      },
      () => response.writeHead(500, { 'Content-Type': 'text/plain' }).end('metrics could not be collected\n'),
    );
  });
  server.requestTimeout = SCRAPE_TIMEOUT_MS;
  server.headersTimeout = SCRAPE_TIMEOUT_MS;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // A scrape in progress does not hold the process open once its work is done.
  server.unref();
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
