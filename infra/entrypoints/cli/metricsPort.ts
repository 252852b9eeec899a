/**
 * METRICS_PORT for the long-running commands other than `serve` (which has
 * /metrics on its own port): `export --every`, `relay`, `index`, `witness`
 * and `signing-proxy` serve GET /metrics there while they run, on
 * METRICS_HOST (default 127.0.0.1; 0.0.0.0 in a container). Unset: no
 * listener. Port 0 takes a free port, named on stderr.
 */
import { startMetricsServer } from '../../adapters/metricsServer.ts';
import { UsageError } from './io.ts';

export function metricsPortFrom(env: NodeJS.ProcessEnv): { port: number; host: string } | undefined {
  const text = env['METRICS_PORT'];
  if (text === undefined || text === '') return undefined;
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65_535)
    throw new UsageError(`METRICS_PORT must be an integer from 0 to 65535 (got ${JSON.stringify(text)})`);
  return { port: Number(text), host: env['METRICS_HOST'] || '127.0.0.1' };
}

/** Runs `work` with GET /metrics served on METRICS_PORT when it is set, closed once `work` ends. */
export async function withMetricsPort<T>(
  command: string,
  work: () => Promise<T>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<T> {
  const where = metricsPortFrom(env);
  if (!where) return work();
  const server = await startMetricsServer(where.port, where.host).catch((error: unknown) => {
    throw new UsageError(
      `${command}: cannot serve /metrics on ${where.host}:${where.port}: ${error instanceof Error ? error.message : String(error)}`,
    );
  });
  process.stderr.write(`${command}: metrics on http://${where.host}:${server.port}/metrics\n`);
  try {
    return await work();
  } finally {
    await server.close();
  }
}
