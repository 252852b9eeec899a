/**
 * The auditor page in headless Chromium (docs/FORMAT.md section 15): a real
 * bundle of 20,000 records passes, fetched by the page from GET /audit/bundle;
 * given as a folder to its own index.html, a copy with a tampered checkpoint, a
 * checkpoint signed over a wrong root, an altered cosignature and a tampered
 * inclusion proof is reported at each one's seq; and each golden corruption
 * is reported at the seq audit-verify reports, chosen as files or dropped on
 * the page.
 */
import test from 'ava';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import type { BundleReport, CheckerFinding } from '../../auditor/checker.mjs';
import { checkpointBody } from '../../chain/checkpoint.ts';
import { signCheckpoint } from '../../chain/treeLog.ts';
import { auditorPage, checkerSource } from '../../infra/adapters/files/auditorPage.ts';
import { checkpointing } from '../../infra/wiring/checkpoints.ts';
import { writeTestBundle } from '../helpers/auditorBundle.ts';
import { launchChromium } from '../helpers/chromium.ts';
import { testServer } from '../helpers/http.ts';
import { tempDir } from '../helpers/runtime.ts';

const RECORDS = 20_000;
const CHECKPOINT_EVERY = 5000;
const VECTORS = fileURLToPath(new URL('../vectors/', import.meta.url));

/** What the tests read of the page, typed here (this file has no DOM types); the functions run in the page. */
interface PageGlobals {
  document: { body: { dataset: { state?: string } } };
  auditorReport?: BundleReport;
}
/** Runs one check in the page (`start` gives it its input) and returns the report it shows. */
async function checked(page: Page, start: () => Promise<void>, log?: (line: string) => void): Promise<BundleReport> {
  const started = performance.now();
  await page.evaluate(() => {
    (globalThis as unknown as PageGlobals).document.body.dataset.state = 'ready';
  });
  await start();
  await page.waitForFunction(
    () => {
      const state = (globalThis as unknown as PageGlobals).document.body.dataset.state;
      return state === 'done' || state === 'error';
    },
    undefined,
    { timeout: 60_000 },
  );
  const report = await page.evaluate(() => (globalThis as unknown as PageGlobals).auditorReport ?? null);
  if (!report) throw new Error(`the page could not check: ${await page.textContent('#verdict')}`);
  log?.(`checked ${report.records} records in the page in ${Math.round(performance.now() - started)} ms`);
  return report;
}

/** Every URL each page requested: the page must request nothing but itself and the bundle it checks. */
const requested = new WeakMap<Page, string[]>();

/**
 * Runs in the page before its script: WebCrypto refuses Ed25519 as a browser
 * without it does (NotSupportedError), for import, verify and generateKey.
 * A string, not a function: what the test runner compiles a function into
 * may name helpers the page does not have.
 */
const WITHOUT_WEBCRYPTO_ED25519 = `(() => {
  const subtle = globalThis.crypto.subtle;
  const isEd25519 = (algorithm) =>
    String(typeof algorithm === 'string' ? algorithm : algorithm && algorithm.name).toLowerCase() === 'ed25519';
  for (const [method, at] of [['importKey', 2], ['verify', 0], ['generateKey', 0]]) {
    const original = subtle[method].bind(subtle);
    subtle[method] = (...args) =>
      isEd25519(args[at])
        ? Promise.reject(new DOMException('Algorithm: Unrecognized name', 'NotSupportedError'))
        : original(...args);
  }
})();`;

async function openPage(browser: Browser, url: string, { noEd25519 = false } = {}): Promise<Page> {
  const page = await browser.newPage();
  if (noEd25519) await page.addInitScript(WITHOUT_WEBCRYPTO_ED25519);
  const errors: string[] = [];
  const urls: string[] = [];
  requested.set(page, urls);
  page.on('request', (request) => urls.push(request.url()));
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(url);
  try {
    await page.waitForFunction(
      () => (globalThis as unknown as PageGlobals).document.body.dataset.state === 'ready',
      undefined,
      {
        timeout: 10_000,
      },
    );
  } catch {
    throw new Error(`the page did not start: ${errors.join('; ')}`);
  }
  return page;
}

const brief = (findings: readonly CheckerFinding[]) => findings.map((f) => `${f.chain} ${f.seq} ${f.reason}`);

/** A C2SP tlog-cosignature/v1 of a checkpoint note's text by `privateKey`, at `timeSeconds`. */
function cosignatureLine(
  note: string,
  name: string,
  keys: ReturnType<typeof generateKeyPairSync>,
  timeSeconds: number,
) {
  const raw = keys.publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  const id = createHash('sha256')
    .update(Buffer.concat([Buffer.from(`${name}\n`), Buffer.from([0x04]), raw]))
    .digest()
    .subarray(0, 4);
  const body = note.slice(0, note.indexOf('\n\n') + 1);
  const time = Buffer.alloc(8);
  time.writeBigUInt64BE(BigInt(timeSeconds));
  const signature = sign(null, Buffer.from(`cosignature/v1\ntime ${timeSeconds}\n${body}`), keys.privateKey);
  const vkey = `${name}+${id.toString('hex')}+${Buffer.concat([Buffer.from([0x04]), raw]).toString('base64')}`;
  return { line: `\u2014 ${name} ${Buffer.concat([id, time, signature]).toString('base64')}\n`, vkey };
}

test('a bundle of 20,000 records passes in the page that fetches it from the API; given as a folder to its own index.html, a copy whose checkpoints, cosignatures and inclusion proof were tampered with is reported at their seqs (and the consistency proofs beside the checkpoint signed over a wrong root) while its records pass', async (t) => {
  t.timeout(240_000);
  const archive = tempDir('auditor-archive');
  const out = tempDir('auditor-bundle');
  const tampered = tempDir('auditor-tampered');
  t.teardown(() => [archive, out, tampered].forEach((folder) => rmSync(folder, { recursive: true, force: true })));
  const server = await testServer(t, { env: { ARCHIVE_TARGET: archive } });
  const runtime = server.app.runtime;
  const started = performance.now();
  const written = await writeTestBundle(runtime, {
    records: RECORDS,
    checkpointEvery: CHECKPOINT_EVERY,
    batchRecords: 5000,
    archive,
    out,
  });
  t.log(`bundle of ${RECORDS} records written in ${Math.round(performance.now() - started)} ms`);
  t.true(written.ok, JSON.stringify(written.finding));
  t.deepEqual(written.checkpoints, [5000, 10000, 15000, 20000]);
  t.deepEqual(written.inclusionProofs, [1, RECORDS]);
  for (const path of ['/auditor', '/auditor/checker.mjs']) {
    const response = await fetch(`${server.url}${path}`);
    t.is(response.status, 200, path);
    t.is(response.headers.get('cache-control'), 'no-cache', path);
    t.is(response.headers.get('x-content-type-options'), 'nosniff', path);
    t.regex(response.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/, path);
  }
  const policy = (await fetch(`${server.url}/auditor`)).headers.get('content-security-policy')!;
  t.regex(policy, /connect-src 'self'(;|$)/, 'the page connects to its own API only');
  const browser = await launchChromium();
  t.teardown(() => browser.close());

  // From the API: the page served by it fetches GET /audit/bundle with an auditor's token.
  const served = await openPage(browser, `${server.url}/auditor`);
  const fetched = await checked(
    served,
    async () => {
      await served.fill('#token', server.tokens.auditor);
      await served.click('#fetch');
    },
    t.log,
  );
  t.deepEqual(brief(fetched.findings), []);
  t.like(fetched, { ok: true, records: RECORDS, checkpoints: 4, inclusionProofs: 2 });
  t.is(await served.textContent('#verdict'), `OK: 20,000 records (main seq 1 to ${RECORDS}), every check held`);
  const trust = await served.textContent('#trust');
  t.true(trust!.includes(`this page's checker: SHA-256 ${createHash('sha256').update(checkerSource()).digest('hex')}`));
  t.true(trust!.includes("signer registry: the bundle's own signers.json"));
  t.deepEqual(
    requested.get(served)!.map((url) => new URL(url).pathname),
    ['/auditor', '/audit/bundle'],
    'the page requests itself and the bundle, nothing else',
  );

  // A copy, every checkpoint cosigned by a witness (in checkpoints/ and in the proof files); then changed where an attacker would.
  cpSync(out, tampered, { recursive: true });
  const witness = generateKeyPairSync('ed25519');
  const notePath = (size: number) => join(tampered, 'checkpoints', `${size}.checkpoint`);
  const origin = checkpointing(runtime).origin('main');
  const key = checkpointing(runtime).key!;
  // 15000: signed by the chain's signer, but over the root of another tree.
  const wrongRoot = new Uint8Array(32).fill(7);
  writeFileSync(notePath(15000), await signCheckpoint(runtime.signer, key, { origin, size: 15000, root: wrongRoot }));
  t.true(readFileSync(notePath(15000), 'utf8').startsWith(checkpointBody({ origin, size: 15000, root: wrongRoot })));
  let vkey = '';
  const cosigned = new Map<number, string>();
  for (const size of [5000, 10000, 15000, 20000]) {
    const text = readFileSync(notePath(size), 'utf8');
    const signed = cosignatureLine(text, 'witness.example/w1', witness, 1_764_000_000 + size);
    vkey = signed.vkey;
    cosigned.set(size, text + signed.line);
    let line = signed.line;
    if (size === 10000) {
      // 10000: the cosignature's time (the 8 bytes after the key hash) changed after it was signed.
      const [dash, name, blob] = line.trimEnd().split(' ');
      const bytes = Buffer.from(blob!, 'base64');
      bytes[11] = bytes[11]! ^ 1;
      line = `${dash} ${name} ${bytes.toString('base64')}\n`;
    }
    writeFileSync(notePath(size), text + line);
  }
  // 20000: the root changed (the signature no longer holds).
  const last = readFileSync(notePath(20000), 'utf8').split('\n');
  last[2] = `${last[2]![0] === 'A' ? 'B' : 'A'}${last[2]!.slice(1)}`;
  writeFileSync(notePath(20000), last.join('\n'));
  // The proof files carry their checkpoint: the cosigned one; and in 20000's, one hash of the path replaced by another.
  for (const [seq, size] of [
    [1, 5000],
    [RECORDS, 20000],
  ] as const) {
    const path = join(tampered, 'inclusion', `${seq}.tlog-proof`);
    const text = readFileSync(path, 'utf8');
    const head = text.slice(0, text.indexOf('\n\n')).split('\n');
    if (seq === RECORDS) head[3] = head[4]!;
    writeFileSync(path, `${head.join('\n')}\n\n${cosigned.get(size)!}`);
  }

  // The copy's own index.html, opened from the disk, given the folder: its 20,000 records pass, the tampering does not.
  const again = await openPage(browser, pathToFileURL(join(tampered, 'index.html')).href);
  await again.fill('#witnesses', vkey);
  const report = await checked(again, () => again.setInputFiles('#folder', tampered), t.log);
  // The bundle's consistency proofs on either side of 15000 lead from or to the true root, not the one signed.
  t.deepEqual(brief(report.findings), [
    'main 10000 checkpoint-invalid',
    'main 15000 checkpoint-root-mismatch',
    'main 15000 consistency-proof-invalid',
    'main 20000 checkpoint-invalid',
    'main 20000 inclusion-proof-invalid',
    'main 20000 consistency-proof-invalid',
  ]);
  t.regex(report.findings[0]!.message, /cosignature by witness witness\.example\/w1 does not verify/);
  t.regex(report.findings[3]!.message, /signature by .* does not verify/);
  t.regex(report.findings[4]!.message, /does not lead to the root/);
  t.is(report.records, RECORDS, 'the records themselves still pass');
  t.false(report.ok);
  t.deepEqual(requested.get(again), [pathToFileURL(join(tampered, 'index.html')).href], 'nothing but the page itself');
});

interface VectorCase {
  name: string;
  records: string;
  signers: string;
  args: string[];
  expected: { finding: { chain: string; seq: number; reason: string } | null };
}

test('each golden corruption is reported by the page at the seq and with the reason audit-verify gives', async (t) => {
  t.timeout(120_000);
  const folder = tempDir('auditor-page');
  t.teardown(() => rmSync(folder, { recursive: true, force: true }));
  writeFileSync(join(folder, 'index.html'), auditorPage().html);
  const browser = await launchChromium();
  t.teardown(() => browser.close());
  const page = await openPage(browser, pathToFileURL(join(folder, 'index.html')).href);
  const cases = (JSON.parse(readFileSync(join(VECTORS, 'index.json'), 'utf8')) as { cases: VectorCase[] }).cases;
  // The page checks whole files: the vectors checked with a range (--limit, --from) are audit-verify's options only.
  const whole = cases.filter((vector) => vector.args.length === 0);
  t.true(whole.length >= 30);
  for (const vector of whole) {
    const report = await checked(page, () =>
      page.setInputFiles('#files', [join(VECTORS, vector.records), join(VECTORS, vector.signers)]),
    );
    const expected = vector.expected.finding;
    t.deepEqual(
      brief(report.findings),
      expected ? [`${expected.chain} ${expected.seq} ${expected.reason}`] : [],
      vector.name,
    );
    t.is(
      await page.textContent('#verdict'),
      expected
        ? 'FAILED: 1 finding'
        : `OK: ${report.records} records (${report.chains.map((c) => `${c.chain} seq ${c.fromSeq} to ${c.toSeq}`).join(', ')}), every check held`,
    );
  }

  // Dropped on the page rather than chosen: the files of one corrupted vector, in a DataTransfer.
  const vector = whole.find((entry) => entry.name === 'wrong-prev-hash')!;
  const files = [vector.records, vector.signers].map((path) => ({
    name: path.split('/').at(-1)!,
    text: readFileSync(join(VECTORS, path), 'utf8'),
  }));
  const dropped = await checked(page, async () => {
    const transfer = await page.evaluateHandle((list) => {
      const globals = globalThis as unknown as {
        DataTransfer: new () => { items: { add(file: unknown): void } };
        File: new (parts: string[], name: string) => unknown;
      };
      const data = new globals.DataTransfer();
      for (const file of list) data.items.add(new globals.File([file.text], file.name));
      return data;
    }, files);
    await page.dispatchEvent('#drop', 'drop', { dataTransfer: transfer });
  });
  t.deepEqual(brief(dropped.findings), ['main 11 prev-hash-mismatch']);
});

test("where WebCrypto lacks Ed25519 the page verifies with the pinned pure-JS fallback: a bundle's records, checkpoints and inclusion proofs pass, a tampered signature and a tampered checkpoint are reported at their seqs, a tail cut with bundle.json edited to match fails bundle.sig", async (t) => {
  t.timeout(180_000);
  const archive = tempDir('auditor-fallback-archive');
  const out = tempDir('auditor-fallback-bundle');
  const vectors = tempDir('auditor-fallback-page');
  t.teardown(() => [archive, out, vectors].forEach((folder) => rmSync(folder, { recursive: true, force: true })));
  const server = await testServer(t, { env: { ARCHIVE_TARGET: archive } });
  const written = await writeTestBundle(server.app.runtime, {
    records: 600,
    checkpointEvery: 300,
    batchRecords: 300,
    archive,
    out,
  });
  t.true(written.ok, JSON.stringify(written.finding));
  const browser = await launchChromium();
  t.teardown(() => browser.close());
  const fallbackName = /^@noble\/ed25519 \d+\.\d+\.\d+ \(index\.js SHA-256 [0-9a-f]{64}\)$/;

  // WebCrypto's Ed25519 really is gone in this page: importing an Ed25519 key fails as in such a browser.
  const page = await openPage(browser, pathToFileURL(join(out, 'index.html')).href, { noEd25519: true });
  t.is(
    await page.evaluate(async () => {
      const subtle = (
        globalThis as unknown as { crypto: { subtle: { importKey(...args: unknown[]): Promise<unknown> } } }
      ).crypto.subtle;
      return subtle.importKey('raw', new Uint8Array(32), { name: 'Ed25519' }, false, ['verify']).then(
        () => 'imported',
        (error: Error) => error.name,
      );
    }),
    'NotSupportedError',
  );
  const good = await checked(page, () => page.setInputFiles('#folder', out));
  t.deepEqual(brief(good.findings), []);
  t.true(written.checkpoints.length >= 1);
  t.like(good, { ok: true, records: 600, checkpoints: written.checkpoints.length });
  t.true(good.inclusionProofs! >= 1);
  t.regex(good.trust!.ed25519Fallback ?? '', fallbackName, 'the fallback verified the Ed25519 signatures');
  t.true((await page.textContent('#trust'))!.includes('Ed25519 verified by the pure-JS fallback @noble/ed25519'));

  // A copy cut at its tail (its last batch and the tree files past it removed) with bundle.json rewritten to match:
  // bundle.sig no longer verifies over it.
  const cutDir = tempDir('auditor-fallback-cut');
  t.teardown(() => rmSync(cutDir, { recursive: true, force: true }));
  cpSync(out, cutDir, { recursive: true });
  const described = JSON.parse(readFileSync(join(cutDir, 'bundle.json'), 'utf8')) as {
    batches: string[];
    checkpoints: number[];
    inclusion: number[];
  };
  const lastBatch = described.batches.at(-1)!;
  rmSync(join(cutDir, 'batches', lastBatch), { force: true });
  rmSync(join(cutDir, 'batches', lastBatch.replace('.jsonl.gz', '.manifest.json')), { force: true });
  for (const size of described.checkpoints.filter((size) => size > 300))
    rmSync(join(cutDir, 'checkpoints', `${size}.checkpoint`));
  for (const seq of described.inclusion.filter((seq) => seq > 300))
    rmSync(join(cutDir, 'inclusion', `${seq}.tlog-proof`));
  writeFileSync(
    join(cutDir, 'bundle.json'),
    `${JSON.stringify(
      {
        ...described,
        to_seq: 300,
        batches_to_seq: 300,
        batches: described.batches.slice(0, -1),
        checkpoints: described.checkpoints.filter((size) => size <= 300),
        inclusion: described.inclusion.filter((seq) => seq <= 300),
      },
      null,
      2,
    )}\n`,
  );
  const cutReport = await checked(page, () => page.setInputFiles('#folder', cutDir));
  t.deepEqual(brief(cutReport.findings), ['main 0 bundle-signature-invalid']);
  t.is(cutReport.records, 300, 'the records left pass; the edited bundle.json does not');

  // The last checkpoint with its root changed: its signature no longer holds.
  const size = written.checkpoints.at(-1)!;
  const note = join(out, 'checkpoints', `${size}.checkpoint`);
  const lines = readFileSync(note, 'utf8').split('\n');
  lines[2] = `${lines[2]![0] === 'A' ? 'B' : 'A'}${lines[2]!.slice(1)}`;
  writeFileSync(note, lines.join('\n'));
  const tampered = await checked(page, () => page.setInputFiles('#folder', out));
  t.true(brief(tampered.findings).includes(`main ${size} checkpoint-invalid`), brief(tampered.findings).join(', '));

  // Golden vectors: the happy chain passes; a signature flipped and a record signed by another key are reported at their seqs.
  writeFileSync(join(vectors, 'index.html'), auditorPage().html);
  const golden = await openPage(browser, pathToFileURL(join(vectors, 'index.html')).href, { noEd25519: true });
  const cases = (JSON.parse(readFileSync(join(VECTORS, 'index.json'), 'utf8')) as { cases: VectorCase[] }).cases;
  for (const name of ['happy', 'bad-signature', 'wrong-key-for-kid', 'payload-edited-and-rehashed']) {
    const vector = cases.find((entry) => entry.name === name)!;
    const report = await checked(golden, () =>
      golden.setInputFiles('#files', [join(VECTORS, vector.records), join(VECTORS, vector.signers)]),
    );
    const expected = vector.expected.finding;
    t.deepEqual(brief(report.findings), expected ? [`${expected.chain} ${expected.seq} ${expected.reason}`] : [], name);
    t.regex(report.trust!.ed25519Fallback ?? '', fallbackName, name);
  }

  // With WebCrypto's Ed25519 present the fallback is not used.
  const normal = await openPage(browser, pathToFileURL(join(vectors, 'index.html')).href);
  const vector = cases.find((entry) => entry.name === 'happy')!;
  const report = await checked(normal, () =>
    normal.setInputFiles('#files', [join(VECTORS, vector.records), join(VECTORS, vector.signers)]),
  );
  t.true(report.ok);
  t.is(report.trust!.ed25519Fallback, undefined);
  t.deepEqual(requested.get(golden), [pathToFileURL(join(vectors, 'index.html')).href], 'nothing but the page itself');
});
