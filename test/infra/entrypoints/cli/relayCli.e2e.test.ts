/**
 * The relays as an operator runs them, through the real CLI on a real
 * PostgreSQL chain, with the Kafka client pointed at a loopback port where
 * nothing listens (no broker runs here; the broker itself is the contract
 * suite's): `serve` with KAFKA_BROKERS starts, appends go on, /ready reports
 * Kafka without failing, and SIGTERM stops it promptly; `relay kafka`
 * claims its position, `--from-seq` moves it, and bad usage is exit 2.
 */
import { spawn } from 'node:child_process';
import { createServer, type Socket } from 'node:net';
import test, { type ExecutionContext } from 'ava';
import pg from 'pg';
import { CLI, runCli } from '../../../helpers/cli.ts';
import { createPostgresDatabase } from '../../../helpers/databases.ts';
import { tempDir } from '../../../helpers/runtime.ts';

/** A loopback port nothing listens on: the broker is "down". */
const DOWN = '127.0.0.1:1';

async function chainbookDatabase(t: ExecutionContext) {
  const database = await createPostgresDatabase();
  const dataDir = tempDir('relay');
  t.teardown(() => database.drop());
  const env = { DATABASE_URL: database.url, CHAINBOOK_DATA_DIR: dataDir, LOG_LEVEL: 'warn' };
  const append = (from: number, count: number) =>
    runCli(['append'], {
      env,
      input: Array.from(
        { length: count },
        (_, i) =>
          `${JSON.stringify({ stream: `quote-${from + i}`, type: 'quote.recorded', data: { n: from + i }, actor: { id: 'w', role: 'Service' } })}\n`,
      ).join(''),
    });
  const query = async (sql: string) => {
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      return (await client.query(sql)).rows;
    } finally {
      await client.end();
    }
  };
  return { env, append, query };
}

function background(args: string[], env: Record<string, string>) {
  const { DATABASE_URL: _inherited, ...inherited } = process.env;
  const child = spawn(process.execPath, [...CLI, ...args], { env: { ...inherited, ...env }, stdio: 'pipe' });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, exited, output: () => output };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test('serve with KAFKA_BROKERS and the broker down: appends go on, /ready reports Kafka and stays ready, SIGTERM stops it', async (t) => {
  const { env, append, query } = await chainbookDatabase(t);
  t.is((await append(0, 3)).code, 0);
  const server = background(['serve'], { ...env, PORT: '0', KAFKA_BROKERS: DOWN });
  t.teardown(() => server.child.kill('SIGKILL'));
  const url = await until('serving', async () => /serving (http:\/\/\S+)/.exec(server.output())?.[1]);
  // /ready answers the last probe's verdict at once: it never waits on the broker.
  const body = await until('the first Kafka probe', async () => {
    const started = Date.now();
    const ready = await fetch(`${url}/ready`);
    const report = (await ready.json()) as { status: string; checks: { kafka?: { ok: boolean; message?: string } } };
    t.is(ready.status, 200, JSON.stringify(report));
    t.true(Date.now() - started < 2500, 'no wait on the broker');
    return /^Kafka at /.test(report.checks.kafka?.message ?? '') ? report : undefined;
  });
  t.is(body.status, 'ready');
  t.false(body.checks.kafka!.ok);

  const started = Date.now();
  const appended = await append(3, 5);
  t.is(appended.code, 0, appended.stderr);
  t.true(Date.now() - started < 30_000);
  const [row] = await until('the relay claimed its position', async () => {
    const rows = await query("SELECT seq, owner FROM relay_positions WHERE relay = 'kafka:audit-events'");
    return rows.length > 0 ? rows : undefined;
  });
  t.is(Number(row.seq), 0, 'nothing acknowledged, nothing recorded');
  t.truthy(row.owner);
  // The lag follows the head while the broker is down (read every second).
  await until('the lag to show the 8 records', async () => {
    const metrics = await (await fetch(`${url}/metrics`)).text();
    return /audit_stream_lag_records\{relay="kafka:audit-events",chain="main"\} 8\n/.test(metrics) || undefined;
  });
  t.pass();

  const stopping = Date.now();
  server.child.kill('SIGTERM');
  t.is(await server.exited, 0, server.output());
  t.true(Date.now() - stopping < 20_000, 'a send in flight does not hold the shutdown');
  const [released] = await query("SELECT owner FROM relay_positions WHERE relay = 'kafka:audit-events'");
  t.is(released.owner, null, 'the lease is released at shutdown: another process takes over at once');
});

/** A "broker" that accepts connections and never answers: every request of the client hangs. */
async function hungBroker(t: ExecutionContext): Promise<string> {
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return `127.0.0.1:${address.port}`;
}

test('serve with KAFKA_BROKERS at a broker that never answers: a relay per chain; SIGTERM ends it within the stop budget and releases the leases', async (t) => {
  const { env, append, query } = await chainbookDatabase(t);
  t.is((await append(0, 3)).code, 0);
  // A second chain, as a migration makes one (chain_heads at seq 0): serve relays it too.
  await query("INSERT INTO chain_heads (chain, seq, hash, ts) VALUES ('finance', 0, repeat('0', 64), NULL)");
  const server = background(['serve'], { ...env, PORT: '0', KAFKA_BROKERS: await hungBroker(t) });
  t.teardown(() => server.child.kill('SIGKILL'));
  await until('serving', async () => /serving (http:\/\/\S+)/.exec(server.output())?.[1]);
  const held = await until('a relay of each chain holding its lease', async () => {
    const rows = await query(
      "SELECT chain FROM relay_positions WHERE relay = 'kafka:audit-events' AND owner IS NOT NULL ORDER BY chain",
    );
    return rows.length === 2 ? rows : undefined;
  });
  t.deepEqual(
    held.map((row) => row.chain),
    ['finance', 'main'],
  );
  // A send is in flight to the socket that never answers.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const stopping = Date.now();
  server.child.kill('SIGTERM');
  const code = await Promise.race([
    server.exited,
    new Promise((resolve) => setTimeout(() => resolve('running'), 15_000)),
  ]);
  t.is(code, 0, server.output());
  t.true(Date.now() - stopping < 10_000, `stopped after ${Date.now() - stopping} ms`);
  const rows = await query("SELECT seq, owner FROM relay_positions WHERE relay = 'kafka:audit-events'");
  t.is(rows.length, 2);
  for (const row of rows) {
    t.is(row.owner, null, 'the lease is released: another process takes over at once');
    t.is(Number(row.seq), 0);
  }
});

test('relay kafka: --from-seq moves the stored position back, SIGTERM stops it with exit 0; bad usage is exit 2', async (t) => {
  const { env, append, query } = await chainbookDatabase(t);
  t.is((await append(0, 6)).code, 0);
  const missing = await runCli(['relay', 'kafka'], { env });
  t.is(missing.code, 2);
  t.regex(missing.stderr, /set KAFKA_BROKERS to relay to kafka/);
  const malformed = await runCli(['relay', 'kafka'], { env: { ...env, KAFKA_BROKERS: 'broker-without-port' } });
  t.is(malformed.code, 2);
  t.regex(malformed.stderr, /KAFKA_BROKERS: must be host:port pairs/);
  const sasl = await runCli(['relay', 'kafka'], { env: { ...env, KAFKA_BROKERS: DOWN, KAFKA_SASL_USERNAME: 'u' } });
  t.is(sasl.code, 2);
  t.regex(sasl.stderr, /together, or none/);
  const beyond = await runCli(['relay', 'kafka', '--from-seq', '9'], { env: { ...env, KAFKA_BROKERS: DOWN } });
  t.is(beyond.code, 2, beyond.stderr);
  t.regex(beyond.stderr, /--from-seq must be from 1 to 7/);
  const eventstore = await runCli(['relay', 'eventstore'], { env });
  t.is(eventstore.code, 2);
  t.regex(eventstore.stderr, /set EVENTSTORE_URL/);

  await query(
    `INSERT INTO relay_positions (relay, chain, seq, hash) SELECT 'kafka:audit-events', 'main', seq, record::json->>'hash' FROM events WHERE seq = 6`,
  );
  const relay = background(['relay', 'kafka', '--from-seq', '3'], { ...env, KAFKA_BROKERS: DOWN });
  t.teardown(() => relay.child.kill('SIGKILL'));
  const [row] = await until('the relay claimed its position', async () => {
    const rows = await query("SELECT seq, owner FROM relay_positions WHERE relay = 'kafka:audit-events'");
    return rows[0]?.owner ? rows : undefined;
  });
  t.is(Number(row.seq), 2, 'records 3 on are sent again');
  t.regex(relay.output(), /position reset; records after it are sent again/);
  relay.child.kill('SIGTERM');
  t.is(await relay.exited, 0, relay.output());
  t.regex(relay.output(), /relayed main to kafka:audit-events up to seq 2/);

  const noSource = await runCli(['index', '--index-database-url', 'postgres://127.0.0.1:1/x'], { env });
  t.is(noSource.code, 2);
  t.regex(noSource.stderr, /give one source: --from-url URL or --from-kafka/);
});

test('relay kafka at a broker that never answers: SIGTERM ends it within the stop budget and releases the lease', async (t) => {
  const { env, append, query } = await chainbookDatabase(t);
  t.is((await append(0, 3)).code, 0);
  const relay = background(['relay', 'kafka'], { ...env, KAFKA_BROKERS: await hungBroker(t) });
  t.teardown(() => relay.child.kill('SIGKILL'));
  await until('the relay holding its lease', async () => {
    const rows = await query(
      "SELECT owner FROM relay_positions WHERE relay = 'kafka:audit-events' AND owner IS NOT NULL",
    );
    return rows.length > 0 || undefined;
  });
  await new Promise((resolve) => setTimeout(resolve, 1500)); // a send in flight to the socket that never answers
  const stopping = Date.now();
  relay.child.kill('SIGTERM');
  const code = await Promise.race([
    relay.exited,
    new Promise((resolve) => setTimeout(() => resolve('running'), 15_000)),
  ]);
  t.is(code, 0, relay.output());
  t.true(Date.now() - stopping < 10_000, `stopped after ${Date.now() - stopping} ms`);
  const [row] = await query("SELECT seq, owner FROM relay_positions WHERE relay = 'kafka:audit-events'");
  t.is(row.owner, null);
  t.is(Number(row.seq), 0);
});
