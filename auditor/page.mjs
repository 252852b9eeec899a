// The auditor page's behaviour (auditor/index.html, docs/FORMAT.md section
// 15): it gathers what the auditor gives it (a dropped or chosen folder or
// files, or a bundle fetched from the API that serves the page), hands it to
// the checker and lists the findings by chain and seq. It fetches nothing
// but that bundle. When the page is written into a bundle the checker and
// this file are inlined into one module script, so every top-level name
// here starts with `page` and none is the checker's.
import { checkBundle, parseWitnessKey, useEd25519Fallback } from './checker.mjs';

const pageElement = (id) => document.getElementById(id);
// SHA-256 of the checker inlined here, written when the page is composed (infra/adapters/files/auditorPage.ts):
// compare it with `sha256sum auditor/checker.mjs` of a copy of the repository you obtained yourself.
const pageCheckerSha256 = 'CHECKER-SHA256';
// The pinned pure-JS Ed25519 (@noble/ed25519 as npm installed it), written here when the page is composed: the
// checker uses it only for keys this browser's WebCrypto cannot import as Ed25519.
const pageEd25519Fallback = 'ED25519-FALLBACK';
if (typeof pageEd25519Fallback === 'object') useEd25519Fallback(pageEd25519Fallback);

/** Paths inside a bundle: without the folder the auditor chose or dropped, `/`-separated. */
function pageWithoutTopFolder(paths) {
  const tops = new Set(paths.map((path) => (path.includes('/') ? path.split('/')[0] : '')));
  if (tops.size !== 1 || tops.has('')) return (path) => path;
  return (path) => path.slice(path.indexOf('/') + 1);
}

/** Chosen files (a folder input gives each its relative path) as the checker's map of path → bytes. */
function pageFilesOfList(list) {
  const files = [...list];
  const relative = pageWithoutTopFolder(files.map((file) => file.webkitRelativePath || file.name));
  return new Map(
    files.map((file) => [
      relative(file.webkitRelativePath || file.name),
      async () => new Uint8Array(await file.arrayBuffer()),
    ]),
  );
}

function pageEntriesOf(directory) {
  const reader = directory.createReader();
  const all = [];
  return new Promise((resolve, reject) => {
    const next = () =>
      reader.readEntries((entries) => {
        if (entries.length === 0) return resolve(all);
        all.push(...entries);
        next();
      }, reject);
    next();
  });
}

async function pageWalk(entry, into) {
  if (entry.isFile) {
    const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
    into.push([entry.fullPath.replace(/^\//, ''), file]);
    return;
  }
  for (const child of await pageEntriesOf(entry)) await pageWalk(child, into);
}

/** What was dropped: folders are walked (a dropped folder's own name is not part of the paths). */
async function pageFilesOfDrop(transfer) {
  const entries = [...transfer.items].map((item) => item.webkitGetAsEntry?.()).filter(Boolean);
  if (entries.length === 0) return pageFilesOfList(transfer.files);
  const found = [];
  for (const entry of entries) await pageWalk(entry, found);
  const relative = pageWithoutTopFolder(found.map(([path]) => path));
  return new Map(found.map(([path, file]) => [relative(path), async () => new Uint8Array(await file.arrayBuffer())]));
}

async function pageOptions() {
  const options = { witnesses: [] };
  const signers = pageElement('signers').files[0];
  if (signers) options.signersText = await signers.text();
  options.heldCheckpoints = await Promise.all(
    [...pageElement('held').files].map(async (file) => ({ name: file.name, text: await file.text() })),
  );
  for (const line of pageElement('witnesses')
    .value.split('\n')
    .map((text) => text.trim())
    .filter(Boolean)) {
    const witness = await parseWitnessKey(line);
    if (!witness) throw new Error(`not a witness verifier key (name+keyhash+base64 of 0x04 and the key): ${line}`);
    options.witnesses.push(witness);
  }
  return options;
}

function pageShowProgress({ phase, checked, total }) {
  const progress = pageElement('progress');
  progress.hidden = false;
  progress.max = Math.max(total, 1);
  progress.value = checked;
  pageElement('status').textContent = `${phase}: ${checked.toLocaleString('en')} of ${total.toLocaleString('en')}`;
}

function pageCell(row, text, className) {
  const cell = row.insertCell();
  cell.textContent = text;
  if (className) cell.className = className;
}

function pageShowReport(report, elapsedMs) {
  const verdict = pageElement('verdict');
  verdict.className = report.ok ? 'ok' : 'failed';
  const ranges = report.chains.map((chain) => `${chain.chain} seq ${chain.fromSeq} to ${chain.toSeq}`).join(', ');
  const notes = report.notes.length;
  verdict.textContent = !report.ok
    ? `FAILED: ${report.findings.length} finding${report.findings.length === 1 ? '' : 's'}`
    : notes === 0
      ? `OK: ${report.records.toLocaleString('en')} records (${ranges}), every check held`
      : `OK with ${notes} note${notes === 1 ? '' : 's'}: ${report.records.toLocaleString('en')} records (${ranges}); read the notes: some checks could not be made`;
  const table = pageElement('findings');
  const body = table.tBodies[0];
  body.replaceChildren();
  for (const finding of report.findings) {
    const row = body.insertRow();
    pageCell(row, finding.chain);
    pageCell(row, String(finding.seq));
    pageCell(row, finding.reason);
    pageCell(row, finding.message, 'message');
  }
  table.hidden = report.findings.length === 0;
  const list = (id, items) =>
    pageElement(id).replaceChildren(
      ...items.map((text) => Object.assign(document.createElement('li'), { textContent: text })),
    );
  list(
    'summary',
    report.chains.map(
      (chain) =>
        `chain ${chain.chain}: ${chain.records.toLocaleString('en')} records checked, seq ${chain.fromSeq} to ${chain.toSeq}${chain.lastHash ? `, last hash ${chain.lastHash}` : ''}`,
    ),
  );
  list('notes', report.notes);
  list('trust', pageTrustLines(report.trust));
  pageElement('status').textContent = `checked in ${(elapsedMs / 1000).toFixed(1)} s`;
}

/** Where the signer registry came from and the keys it trusted, with the checker's own SHA-256. */
function pageTrustLines(trust) {
  const lines = [`this page's checker: SHA-256 ${pageCheckerSha256}`];
  if (!trust) return lines;
  if (trust.ed25519Fallback)
    lines.push(
      `Ed25519 verified by the pure-JS fallback ${trust.ed25519Fallback}: this browser's WebCrypto lacks Ed25519`,
    );
  lines.push(
    trust.source === 'given'
      ? 'signer registry: the signers.json you gave'
      : "signer registry: the bundle's own signers.json, written by the party audited: compare these keys with ones you obtained yourself, or give your own signers.json",
    ...trust.signers.map(
      (signer) =>
        `trusted key ${signer.kid} (${signer.algorithm}), SPKI SHA-256 ${signer.spkiSha256}, ${signer.deployedAt} to ${signer.retiredAt ?? 'now'}`,
    ),
  );
  return lines;
}

/** One check at a time; the page records the last report for whoever drives it (document.body.dataset.state). */
async function pageCheck(gather) {
  if (document.body.dataset.state === 'checking') return;
  document.body.dataset.state = 'checking';
  pageElement('verdict').textContent = '';
  pageElement('findings').hidden = true;
  const started = performance.now();
  try {
    const files = await gather();
    const report = await checkBundle(files, { ...(await pageOptions()), onProgress: pageShowProgress });
    window.auditorReport = report;
    pageShowReport(report, performance.now() - started);
    document.body.dataset.state = 'done';
  } catch (error) {
    window.auditorReport = undefined;
    pageElement('verdict').className = 'failed';
    pageElement('verdict').textContent = `Could not check: ${error.message}`;
    document.body.dataset.state = 'error';
  }
}

/** The bundle of a time range from GET /audit/bundle (an Auditor's token), as the one file it is. */
async function pageFetchBundle() {
  // Only the API that serves this page: its Content-Security-Policy allows no other connection.
  if (!window.location.protocol.startsWith('http'))
    throw new Error('a bundle is fetched by the page GET /auditor of its API serves; here, give its folder or .tar.gz');
  const base = window.location.origin;
  const query = new URLSearchParams({
    fromTs: pageElement('fromTs').value.trim(),
    toTs: pageElement('toTs').value.trim(),
  });
  const chain = pageElement('chain').value.trim();
  if (chain) query.set('chain', chain);
  const response = await fetch(`${base}/audit/bundle?${query}`, {
    headers: { authorization: `Bearer ${pageElement('token').value.trim()}` },
  });
  if (!response.ok) {
    const problem = await response.json().catch(() => undefined);
    throw new Error(
      `the API answered ${response.status}${problem?.error ? `: ${problem.error.code}: ${problem.error.message}` : ''}`,
    );
  }
  pageElement('status').textContent = 'downloading the bundle…';
  const bytes = new Uint8Array(await response.arrayBuffer());
  return new Map([['bundle.tar.gz', async () => bytes]]);
}

pageElement('folder').addEventListener('change', (event) => pageCheck(async () => pageFilesOfList(event.target.files)));
pageElement('files').addEventListener('change', (event) => pageCheck(async () => pageFilesOfList(event.target.files)));
pageElement('api').addEventListener('submit', (event) => {
  event.preventDefault();
  pageCheck(pageFetchBundle);
});
const pageDrop = pageElement('drop');
pageDrop.addEventListener('dragover', (event) => {
  event.preventDefault();
  pageDrop.classList.add('over');
});
pageDrop.addEventListener('dragleave', () => pageDrop.classList.remove('over'));
pageDrop.addEventListener('drop', (event) => {
  event.preventDefault();
  pageDrop.classList.remove('over');
  pageCheck(() => pageFilesOfDrop(event.dataTransfer));
});
document.body.dataset.state = 'ready';
