/**
 * METRICS_PORT: the long-running commands other than `serve` serve GET /metrics while they run.
 * `export --every` through the real CLI against PostgreSQL: its counters are scraped as they grow;
 * `signing-proxy`: the signatures it makes for its clients are counted there.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { runDemoWorkload } from '../../../../commands/demo/demoWorkload.ts';
import { openProxySigner } from '../../../../infra/adapters/signers/proxyClient.ts';
import { testApp } from '../../../helpers/app.ts';
import { CLI, runCli } from '../../../helpers/cli.ts';
import { tempDir } from '../../../helpers/runtime.ts';

const quiet = (): void => undefined;

function sample(text: string, name: string, labels: string): number {
  const line = text.split('\n').find((row) => row.startsWith(`${name}{`) && row.includes(labels));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, ms = 30_000): Promise<T> {
  for (const deadline = Date.now() + ms; Date.now() < deadline;) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

test('export --every with METRICS_PORT serves /metrics: audit_export_success_total grows run by run, with signatures and head-hash timings; SIGTERM closes it', async (t) => {
  const app = await testApp(t, 'postgres');
  await runDemoWorkload(app.deps, 2, quiet);
  const folder = tempDir('metrics-port');
  t.teardown(() => rmSync(folder, { recursive: true, force: true }));
  const { DATABASE_URL: _inherited, ...inherited } = process.env;
  const child = spawn(process.execPath, [...CLI, 'export', '--to', folder, '--every', '1s', '--threads', '0'], {
    env: {
      ...inherited,
      DATABASE_URL: app.test.location,
      CHAINBOOK_DATA_DIR: app.config.dataDir,
      ARCHIVE_SERVICE: 'marketplace',
      METRICS_PORT: '0',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => child.kill('SIGKILL'));
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout.resume();
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = await waitFor('the metrics line', () => /export: metrics on (http:\/\/\S+\/metrics)/.exec(stderr)?.[1]);
  const scrape = async (): Promise<string> => {
    const response = await fetch(url);
    t.is(response.status, 200);
    t.regex(response.headers.get('content-type') ?? '', /^text\/plain/);
    return response.text();
  };
  const first = await waitFor('a first successful run', async () => {
    const text = await scrape();
    return sample(text, 'audit_export_success_total', 'service="marketplace"') >= 1 ? text : undefined;
  });
  const runs = sample(first, 'audit_export_success_total', 'service="marketplace"');
  t.true(sample(first, 'archive_export_records_total', 'service="marketplace"') > 0, 'records were archived');
  t.true(sample(first, 'signatures_total', 'backend="local"') > 0, 'manifests signed by the local key are counted');
  t.regex(first, /^audit_head_hash_compute_seconds_count [1-9]/m, 'archive.exported records were hashed onto the head');
  const later = await waitFor('a later run', async () => {
    const count = sample(await scrape(), 'audit_export_success_total', 'service="marketplace"');
    return count > runs ? count : undefined;
  });
  t.true(later > runs);

  const elsewhere = await fetch(url.replace(/\/metrics$/, '/health'));
  t.is(elsewhere.status, 404, 'only /metrics is served');
  t.is((await fetch(url, { method: 'POST' })).status, 405);

  child.kill('SIGTERM');
  t.is(await exited, 0, stderr);
  await t.throwsAsync(fetch(url), undefined, 'the port is closed with the process');
});

test('a METRICS_PORT that is not a port stops the command with exit 2 and says why', async (t) => {
  const folder = tempDir('metrics-port-bad');
  t.teardown(() => rmSync(folder, { recursive: true, force: true }));
  const result = await runCli(['export', '--to', folder, '--every', '1s', '--runs', '1', '--threads', '0'], {
    env: { CHAINBOOK_DATA_DIR: folder, METRICS_PORT: '70000' },
  });
  t.is(result.code, 2, result.stderr);
  t.regex(result.stderr, /METRICS_PORT must be an integer from 0 to 65535/);
});

test('signing-proxy with METRICS_PORT serves /metrics beside its own port: the signatures it makes for a client are counted there', async (t) => {
  const dataDir = tempDir('metrics-proxy');
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const apiKey = 'proxy-client-key-0123456789';
  const { DATABASE_URL: _inherited, ...inherited } = process.env;
  const child = spawn(process.execPath, [...CLI, 'signing-proxy', '--port', '0'], {
    env: { ...inherited, CHAINBOOK_DATA_DIR: dataDir, SIGNING_PROXY_CLIENTS: `ci:${apiKey}`, METRICS_PORT: '0' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  t.teardown(() => child.kill('SIGKILL'));
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const metricsUrl = await waitFor('the metrics line', () => /metrics on (http:\/\/\S+\/metrics)/.exec(stderr)?.[1]);
  const [, kid, proxyUrl] = await waitFor(
    'the proxy line',
    () => /signing proxy for (\S+) .* listening on (\S+)/.exec(stderr) ?? undefined,
  );
  const signed = async (): Promise<number> =>
    sample(await (await fetch(metricsUrl)).text(), 'signatures_total', 'backend="local"');
  // Opening the client asks the proxy's /health, which signs a probe: counted before the signature measured.
  const client = await openProxySigner({ url: proxyUrl!, apiKey, kid: kid! });
  const before = await signed();
  t.true(before >= 1, 'the health probe signed');
  try {
    await client.signMessage(new TextEncoder().encode('a manifest'));
  } finally {
    await client.close();
  }
  t.is(await signed(), before + 1, 'the proxy counts the signature it made');
  child.kill('SIGTERM');
  t.is(await exited, 0, stderr);
});
