/**
 * Tracing with the OpenTelemetry SDK started as OTEL_COLLECTOR_URL starts it, its spans kept by the
 * SDK's in-memory exporter: a real request through the real HTTP server makes the span tree
 * request → command → append → canonicalize, and the batch that committed it (hash, sign, commit,
 * with its size) below the append; the record's meta.traceId is the span's trace id; a caller's
 * traceparent is continued. Proof generation, export and reconciliation have their spans.
 */
import test from 'ava';
import { rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SpanStatusCode, trace } from '@opentelemetry/api';
import { tracing as sdkTracing } from '@opentelemetry/sdk-node';
import { contextFor } from '../../commands/context.ts';
import { runDemoWorkload } from '../../commands/demo/demoWorkload.ts';
import { FINANCE_LEAD } from '../../commands/demo/marketplaceFlow.ts';
import { reconcile } from '../../commands/reconciliation/reconcile.ts';
import { tracingEnabled } from '../../chain/tracing.ts';
import { FolderStore } from '../../infra/adapters/objectStores/folderStore.ts';
import { collectorTracesUrl, startTracing } from '../../infra/adapters/tracing.ts';
import { exportTo } from '../helpers/archive.ts';
import { testApp } from '../helpers/app.ts';
import { testServer } from '../helpers/http.ts';
import { runCli } from '../helpers/cli.ts';
import { chunksOf, csvOf, reportFromLedger } from '../helpers/providerReports.ts';
import { tempDir, testRuntime } from '../helpers/runtime.ts';

type Finished = sdkTracing.ReadableSpan;

const memory = new sdkTracing.InMemorySpanExporter();
const started = startTracing({ spanProcessors: [new sdkTracing.SimpleSpanProcessor(memory)] });
test.after.always(async () => started?.shutdown());
test.beforeEach(() => memory.reset());

const MANIFEST = {
  name: 'Traced',
  version: '1',
  artifactSha256: 'c'.repeat(64),
  sizeBytes: 1,
  priceMinor: 100,
  currency: 'EUR',
  royaltySplits: [{ partyId: 'publisher-1', basisPoints: 10_000 }],
};

function parentOf(span: Finished): string | undefined {
  return span.parentSpanContext?.spanId;
}

function only(spans: readonly Finished[], name: string): Finished {
  const found = spans.filter((span) => span.name === name);
  if (found.length !== 1)
    throw new Error(`${found.length} spans named ${name}: ${spans.map((s) => s.name).join(', ')}`);
  return found[0]!;
}

async function spansUntil(name: string): Promise<Finished[]> {
  for (let waited = 0; waited < 5000; waited += 10) {
    const spans = memory.getFinishedSpans();
    if (spans.some((span) => span.name === name)) return spans;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`no span ${name}`);
}

test('a request through the server makes the span tree request → command → append → canonicalize, and the batch below the append; the record carries the trace id', async (t) => {
  t.true(tracingEnabled());
  const server = await testServer(t, { engine: 'pglite' });
  memory.reset();
  const response = await server.request('POST', '/manifests', { as: 'publisher', body: MANIFEST });
  t.is(response.status, 200, response.text);
  const spans = await spansUntil('POST /manifests');
  const request = only(spans, 'POST /manifests');
  const command = only(spans, 'command.submitManifest');
  const append = only(spans, 'chain.append');
  const canonicalize = only(spans, 'chain.canonicalize');
  const batch = only(spans, 'chain.batch');
  const hash = only(spans, 'chain.hash');
  const sign = only(spans, 'chain.sign');
  const commit = only(spans, 'chain.commit');

  t.is(parentOf(request), undefined, 'the request begins its trace');
  t.is(request.attributes['http.route'], '/manifests');
  t.is(request.attributes['http.response.status_code'], 200);
  t.is(parentOf(command), request.spanContext().spanId);
  t.is(parentOf(append), command.spanContext().spanId);
  t.is(parentOf(canonicalize), append.spanContext().spanId);
  t.is(parentOf(batch), append.spanContext().spanId);
  t.true(Number(batch.attributes['chainbook.batch.size']) >= 1, 'the batch span has its size');
  for (const step of [hash, sign, commit]) t.is(parentOf(step), batch.spanContext().spanId, step.name);
  const traceId = request.spanContext().traceId;
  for (const span of [command, append, canonicalize, batch, hash, sign, commit])
    t.is(span.spanContext().traceId, traceId, `${span.name} is in the request's trace`);
  for (const span of spans) t.false(JSON.stringify(span.attributes).includes(server.tokens.publisher), 'no token');

  const record = await server.request('GET', `/chain/records/${response.body.seqs[0] as number}`, { as: 'auditor' });
  t.is(record.body.meta.traceId, traceId, "the record's meta.traceId is the span's trace id");
});

test("a caller's traceparent is continued: the request span is its child and the record carries its trace id", async (t) => {
  const server = await testServer(t, { engine: 'pglite' });
  memory.reset();
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const response = await server.request('POST', '/manifests', {
    as: 'publisher',
    headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
    body: MANIFEST,
  });
  t.is(response.status, 200, response.text);
  const request = only(await spansUntil('POST /manifests'), 'POST /manifests');
  t.is(request.spanContext().traceId, traceId);
  t.is(parentOf(request), '00f067aa0ba902b7');
  const record = await server.request('GET', `/chain/records/${response.body.seqs[0] as number}`, { as: 'auditor' });
  t.is(record.body.meta.traceId, traceId);
});

test('proof generation, export and reconciliation have their spans, with the appends they make below them', async (t) => {
  const app = await testApp(t, 'pglite');
  await runDemoWorkload(app.deps, 2, () => undefined);
  const proof = only(memory.getFinishedSpans(), 'ledger.proof');
  const appends = memory.getFinishedSpans().filter((span) => parentOf(span) === proof.spanContext().spanId);
  t.deepEqual(
    appends.map((span) => span.name),
    ['chain.append'],
  );

  memory.reset();
  const folder = tempDir('tracing-export');
  t.teardown(() => rmSync(folder, { recursive: true, force: true }));
  const report = await exportTo(app.runtime, new FolderStore(folder));
  t.true(report.ok);
  const exported = only(memory.getFinishedSpans(), 'archive.export');
  t.is(exported.attributes['chainbook.archive.records'], report.records);
  t.true(
    memory
      .getFinishedSpans()
      .some((span) => span.name === 'chain.append' && parentOf(span) === exported.spanContext().spanId),
    'archive.exported records are appended inside the export span',
  );

  memory.reset();
  const today = new Date().toISOString().slice(0, 10);
  const lines = await reportFromLedger(app.test.db);
  await reconcile(
    app.deps,
    { format: 'csv', from: today, to: today },
    chunksOf(csvOf(lines)),
    contextFor(FINANCE_LEAD),
  );
  t.is(only(memory.getFinishedSpans(), 'reconciliation.run').status.code, SpanStatusCode.UNSET, 'not failed');
});

test('concurrent appends, each in a span of its own, commit in batches whose span is a child of one append and links the others', async (t) => {
  const runtime = await testRuntime(t, 'postgres');
  memory.reset();
  const tracer = trace.getTracer('test');
  const count = 40;
  const results = await Promise.all(
    Array.from({ length: count }, (_, index) =>
      tracer.startActiveSpan(`caller ${index}`, async (span) => {
        try {
          return await runtime.store.append('main', [
            { stream: `quote-${index}`, type: 'quote.recorded', data: { index }, actor: { id: 'b', role: 'Buyer' } },
          ]);
        } finally {
          span.end();
        }
      }),
    ),
  );
  t.is(results.length, count);
  const spans = memory.getFinishedSpans();
  const appends = spans.filter((span) => span.name === 'chain.append');
  const batches = spans.filter((span) => span.name === 'chain.batch');
  t.is(appends.length, count);
  t.true(batches.length >= 1 && batches.length <= count);
  const appendIds = new Set(appends.map((span) => span.spanContext().spanId));
  let covered = 0;
  for (const batch of batches) {
    t.true(appendIds.has(parentOf(batch)!), 'a batch is a child of an append');
    t.is(batch.links.length + 1, Number(batch.attributes['chainbook.batch.appends']));
    for (const link of batch.links) t.true(appendIds.has(link.context.spanId), 'links point at appends');
    covered += Number(batch.attributes['chainbook.batch.appends']);
  }
  t.true(covered >= count, 'every append is in a batch (an append retried alone may be in two)');
  t.is(spans.filter((span) => span.status.code === SpanStatusCode.ERROR).length, 0, 'nothing failed');
});

test('OTEL_COLLECTOR_URL names the collector; /v1/traces is added unless given, and a URL that is not http(s) is refused', (t) => {
  t.is(collectorTracesUrl('http://collector:4318'), 'http://collector:4318/v1/traces');
  t.is(collectorTracesUrl('https://collector.example/'), 'https://collector.example/v1/traces');
  t.is(collectorTracesUrl('http://collector:4318/v1/traces'), 'http://collector:4318/v1/traces');
  t.throws(() => collectorTracesUrl('collector:4318'), { message: /OTEL_COLLECTOR_URL must be an http/ });
});

test('the CLI with OTEL_COLLECTOR_URL sends its spans over OTLP/HTTP to the collector: cli append, with the chain spans below it, in one trace', async (t) => {
  const received: { path: string; body: string }[] = [];
  const collector = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.push({ path: request.url ?? '', body: Buffer.concat(chunks).toString('utf8') });
      response.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
  t.teardown(() => collector.close());
  const dataDir = tempDir('tracing-cli');
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const line = JSON.stringify({
    stream: 'quote-1',
    type: 'quote.recorded',
    data: { n: 1 },
    actor: { id: 'b', role: 'Buyer' },
  });
  const result = await runCli(['append'], {
    env: {
      CHAINBOOK_DATA_DIR: dataDir,
      OTEL_COLLECTOR_URL: `http://127.0.0.1:${(collector.address() as AddressInfo).port}`,
    },
    input: `${line}\n`,
  });
  t.is(result.code, 0, result.stderr);
  t.true(received.length > 0, 'the collector got spans before the command exited');
  t.true(received.every((request) => request.path === '/v1/traces'));
  const spans = received.flatMap((request) =>
    (
      JSON.parse(request.body) as {
        resourceSpans: { scopeSpans: { spans: { name: string; traceId: string; parentSpanId?: string }[] }[] }[];
      }
    ).resourceSpans.flatMap((resource) => resource.scopeSpans.flatMap((scope) => scope.spans)),
  );
  const names = spans.map((span) => span.name);
  for (const name of [
    'cli append',
    'chain.append',
    'chain.canonicalize',
    'chain.batch',
    'chain.hash',
    'chain.sign',
    'chain.commit',
  ])
    t.true(names.includes(name), `${name} in ${names.join(', ')}`);
  const root = spans.find((span) => span.name === 'cli append')!;
  t.true(!root.parentSpanId, 'the command is the root');
  t.true(
    spans.every((span) => span.traceId === root.traceId),
    'one trace',
  );
});

test('an unreachable collector costs a command at most a few seconds and a line on stderr, never its exit code', async (t) => {
  const dataDir = tempDir('tracing-down');
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const append = async (n: number, env: Record<string, string> = {}) => {
    const line = JSON.stringify({
      stream: `quote-${n}`,
      type: 'quote.recorded',
      data: { n },
      actor: { id: 'b', role: 'Buyer' },
    });
    const startedAt = Date.now();
    const result = await runCli(['append'], { env: { CHAINBOOK_DATA_DIR: dataDir, ...env }, input: `${line}\n` });
    return { ...result, ms: Date.now() - startedAt };
  };
  t.is((await append(1)).code, 0, 'the database is made before anything is timed');
  const down = await append(2, { OTEL_COLLECTOR_URL: 'http://127.0.0.1:1' });
  t.is(down.code, 0, down.stderr);
  t.regex(down.stderr, /traces or error reports: /);
  const plain = await append(3);
  t.is(plain.code, 0);
  t.true(down.ms - plain.ms < 4000, `${down.ms} ms with the collector down, ${plain.ms} ms without tracing`);
});
