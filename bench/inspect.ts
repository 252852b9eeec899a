/**
 * The content inspector's latency with every built-in plugin on (content
 * type, secrets, YARA through the `yara` command, text rules): a 10 KiB text
 * and a 10 MiB artifact (random bytes, and a .tar.gz whose members are all
 * unpacked and searched), p50 and p95; and its share of a manifest submission's
 * latency on PostgreSQL (the submission's inspection against the whole
 * command, appends and signing included). The deployment guide alerts on an
 * inspection p95 above 500 ms.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { contextFor } from '../commands/context.ts';
import type { InspectionInput, Inspector } from '../commands/content/inspector.ts';
import { submitManifest } from '../commands/manifests/submitManifest.ts';
import { loadConfig } from '../infra/wiring/config.ts';
import { openApp } from '../infra/wiring/app.ts';
import { migrate } from '../infra/adapters/sql/migrate.ts';
import { openPostgres } from '../infra/adapters/sql/postgres.ts';
import { productFor } from '../test/helpers/fixtures.ts';
import { tarOf } from '../test/helpers/archives.ts';
import { benchDatabase, benchDir, format, percentile } from './lib.ts';

const TEXT_RUNS = 50;
const ARTIFACT_RUNS = 10;
const SUBMISSIONS = 50;
const ENV = {
  CONTENT_BLOCKED_DOMAINS: 'evil.example,phish.example',
  CONTENT_BLOCKED_WORDS: 'warez',
  CONTENT_QUARANTINE_WORDS: 'keygen',
};
const actor = { id: 'publisher-1', role: 'Publisher' };

async function timed(inspector: Inspector, input: InspectionInput, runs: number): Promise<number[]> {
  const durations: number[] = [];
  for (let run = 0; run < runs; run++) {
    const started = performance.now();
    const result = await inspector.inspect(input);
    durations.push(performance.now() - started);
    if (result.pluginResults.some((pluginResult) => pluginResult.outcome !== 'ok'))
      throw new Error(`a plugin failed: ${JSON.stringify(result.pluginResults)}`);
  }
  return durations.sort((a, b) => a - b);
}

function line(label: string, sorted: number[]): string {
  return `${label}: p50 ${format(percentile(sorted, 50))} ms, p95 ${format(percentile(sorted, 95))} ms (${sorted.length} runs)`;
}

export async function inspectBenchmark(log: (line: string) => void): Promise<{ sharePercent: number }> {
  const database = await benchDatabase('inspect');
  const dataDir = benchDir('inspect');
  const db = openPostgres(database.url, { poolSize: 8 });
  await migrate(db);
  const app = await openApp(loadConfig({ CHAINBOOK_DATA_DIR: dataDir, ...ENV }), { db });
  try {
    const inspector = app.deps.content.inspector;
    log(`plugins: ${inspector.plugins.map((plugin) => plugin.name).join(', ')}`);
    const words = 'procedural terrain generator with erosion, rivers and biomes; ';
    const text = words.repeat(Math.ceil(10240 / words.length)).slice(0, 10240);
    log(
      line(
        '10 KiB text',
        await timed(inspector, { text, contentType: 'text/plain', actor, subject: 'listing' }, TEXT_RUNS),
      ),
    );
    const bytes = randomBytes(10 * 1024 * 1024);
    const artifact = { bytes, contentType: 'application/octet-stream', actor, subject: 'artifact' as const };
    log(line('10 MiB artifact', await timed(inspector, artifact, ARTIFACT_RUNS)));
    // The same size as a .tar.gz of 200 files: every member unpacked and searched (docs/DOMAIN.md, "Archives").
    const files = Array.from({ length: 200 }, (_, index) => ({
      name: `assets/${index}.bin`,
      content: randomBytes(52_429),
    }));
    const archive = { ...artifact, bytes: tarOf(files, { gzip: true }), contentType: 'application/gzip' };
    log(
      line(
        `${format(archive.bytes.length / 1024 ** 2)} MiB .tar.gz of 200 files`,
        await timed(inspector, archive, ARTIFACT_RUNS),
      ),
    );
    // A manifest submission, with the time its inspection took.
    let inspectionMs = 0;
    const deps = {
      ...app.deps,
      content: {
        ...app.deps.content,
        inspector: {
          plugins: inspector.plugins,
          async inspect(input: InspectionInput) {
            const started = performance.now();
            try {
              return await inspector.inspect(input);
            } finally {
              inspectionMs += performance.now() - started;
            }
          },
        },
      },
    };
    const submissions: number[] = [];
    const shares: number[] = [];
    for (let index = 0; index < SUBMISSIONS; index++) {
      inspectionMs = 0;
      const started = performance.now();
      await submitManifest(deps, { ...productFor(actor), name: `Product ${index}` }, contextFor(actor));
      const elapsed = performance.now() - started;
      submissions.push(elapsed);
      shares.push(inspectionMs / elapsed);
    }
    submissions.sort((a, b) => a - b);
    shares.sort((a, b) => a - b);
    log(line('manifest submission (inspection included)', submissions));
    const sharePercent = percentile(shares, 50) * 100;
    log(
      `inspection's share of a submission: p50 ${format(sharePercent)}%, p95 ${format(percentile(shares, 95) * 100)}%`,
    );
    return { sharePercent };
  } finally {
    await app.close();
    await db.close();
    await database.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
