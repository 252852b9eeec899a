/**
 * The auditor page against the Node verifier (issue 14): an audit bundle of
 * BENCH_BROWSER_RECORDS records (default 100,000) made for real (appended,
 * checkpointed, exported, bundled), then checked in the same run by
 * audit-verify's code over the same archive (worker threads on every core,
 * and the main thread alone), by the independent checker in Node, and by the
 * bundle's own index.html in headless Chromium given the folder.
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { checkBundle, type BundleReport } from '../auditor/checker.mjs';
import { FolderStore } from '../infra/adapters/objectStores/folderStore.ts';
import { migrate } from '../infra/adapters/sql/migrate.ts';
import { openPostgres } from '../infra/adapters/sql/postgres.ts';
import { workerChecker } from '../infra/adapters/workers/checkPool.ts';
import { loadConfig } from '../infra/wiring/config.ts';
import { openRuntime } from '../infra/wiring/runtime.ts';
import { inProcessChecker } from '../verifier/inProcessChecker.ts';
import { verify } from '../verifier/verify.ts';
import { archiveReader } from '../test/helpers/archive.ts';
import { writeTestBundle } from '../test/helpers/auditorBundle.ts';
import { launchChromium } from '../test/helpers/chromium.ts';
import { benchDatabase, benchDir, format, perSecond } from './lib.ts';

export const BROWSER_RECORDS = Number(process.env['BENCH_BROWSER_RECORDS'] ?? 100_000);
const BATCH_RECORDS = 10_000;
const CHECKPOINT_EVERY = 10_000;

export interface BrowserVerifyFigures {
  records: number;
  browserPerSecond: number;
  checkerNodePerSecond: number;
  nodeWorkersPerSecond: number;
  nodeMainThreadPerSecond: number;
  workers: number;
}

/** A bundle folder as the checker's map of path → bytes. */
function filesOf(folder: string): Map<string, () => Promise<Uint8Array>> {
  const paths = readdirSync(folder, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));
  return new Map(paths.map((path) => [relative(folder, path), async () => Uint8Array.from(readFileSync(path))]));
}

async function inBrowser(bundle: string): Promise<{ report: BundleReport; elapsedMs: number }> {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.goto(pathToFileURL(join(bundle, 'index.html')).href);
    type Globals = { document: { body: { dataset: { state?: string } } }; auditorReport?: BundleReport };
    await page.waitForFunction(() => (globalThis as unknown as Globals).document.body.dataset.state === 'ready');
    const started = performance.now();
    await page.setInputFiles('#folder', bundle);
    await page.waitForFunction(
      () => ['done', 'error'].includes((globalThis as unknown as Globals).document.body.dataset.state ?? ''),
      undefined,
      { timeout: 0 },
    );
    const elapsedMs = performance.now() - started;
    const report = await page.evaluate(() => (globalThis as unknown as Globals).auditorReport ?? null);
    if (!report) throw new Error(`the page could not check the bundle: ${await page.textContent('#verdict')}`);
    return { report, elapsedMs };
  } finally {
    await browser.close();
  }
}

export async function browserVerifyBenchmark(log: (line: string) => void): Promise<BrowserVerifyFigures> {
  const database = await benchDatabase('browser_verify');
  const db = openPostgres(database.url, { poolSize: 4 });
  const dataDir = benchDir('browser-verify');
  const archive = join(dataDir, 'archive');
  const bundle = join(dataDir, 'bundle');
  try {
    await migrate(db);
    const runtime = await openRuntime(loadConfig({ CHAINBOOK_DATA_DIR: dataDir }), { db, projections: false });
    const written = await writeTestBundle(runtime, {
      records: BROWSER_RECORDS,
      checkpointEvery: CHECKPOINT_EVERY,
      batchRecords: BATCH_RECORDS,
      archive,
      out: bundle,
    });
    const registry = runtime.registry;
    await runtime.close();
    if (!written.ok) throw new Error(`the bundle was not written: ${JSON.stringify(written.finding)}`);
    log(
      `bundle of ${format(BROWSER_RECORDS)} records: ${written.batches.length} batches, ${written.checkpoints.length} checkpoints, ${written.inclusionProofs.length} inclusion proofs`,
    );

    const store = new FolderStore(archive);
    const workers = availableParallelism();
    const timed = async (checker: ReturnType<typeof inProcessChecker>) => {
      const started = performance.now();
      const report = await verify(await archiveReader(store, registry), checker, { chains: ['main'] });
      await checker.close();
      if (!report.ok) throw new Error(`audit-verify --archive failed: ${JSON.stringify(report.finding)}`);
      return perSecond(report.records, performance.now() - started);
    };
    const nodeWorkersPerSecond = await timed(workerChecker(registry, workers));
    log(`audit-verify --archive, ${workers} worker threads: ${format(nodeWorkersPerSecond)} records/s`);
    const nodeMainThreadPerSecond = await timed(inProcessChecker(registry));
    log(`audit-verify --archive, main thread only: ${format(nodeMainThreadPerSecond)} records/s`);

    const checkerStarted = performance.now();
    const inNode = await checkBundle(filesOf(bundle));
    if (!inNode.ok) throw new Error(`the checker failed the bundle in Node: ${JSON.stringify(inNode.findings[0])}`);
    const checkerNodePerSecond = perSecond(inNode.records, performance.now() - checkerStarted);
    log(`auditor/checker.mjs in Node (WebCrypto): ${format(checkerNodePerSecond)} records/s`);

    const browser = await inBrowser(bundle);
    if (!browser.report.ok || browser.report.records < BROWSER_RECORDS)
      throw new Error(`the page failed the bundle: ${JSON.stringify(browser.report.findings[0])}`);
    const browserPerSecond = perSecond(browser.report.records, browser.elapsedMs);
    log(
      `auditor page in headless Chromium, from the folder given to it to the verdict: ${format(browserPerSecond)} records/s (${format(browser.elapsedMs / 1000)} s)`,
    );
    return {
      records: BROWSER_RECORDS,
      browserPerSecond,
      checkerNodePerSecond,
      nodeWorkersPerSecond,
      nodeMainThreadPerSecond,
      workers,
    };
  } finally {
    await db.close();
    await database.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
