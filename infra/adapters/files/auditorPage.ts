/**
 * The auditor page as one file (docs/FORMAT.md section 15): auditor/index.html
 * with the checker and the page's script inlined into one module script, so
 * that it opens from a bundle's folder (a browser refuses module scripts
 * from file:// URLs) and from the API alike. Its Content-Security-Policy
 * allows that one script (by its SHA-256), inline styles, and connections
 * only to the API that serves it: nothing else is loaded.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const AUDITOR_FOLDER = new URL('../../../auditor/', import.meta.url);
export const CHECKER_URL = new URL('checker.mjs', AUDITOR_FOLDER);
const PAGE_SCRIPT_TAG = '<script type="module" src="page.mjs"></script>';
const CHECKER_IMPORT = /^import \{[^}]*\} from '\.\/checker\.mjs';\n/m;
const CHECKER_SHA256_PLACEHOLDER = "'CHECKER-SHA256'";
const ED25519_FALLBACK_PLACEHOLDER = "'ED25519-FALLBACK'";
/** The one export statement of @noble/ed25519's index.js (its last line); nothing else in it may import or export. */
const NOBLE_EXPORT = /^export \{[^}]*\};[ \t]*$/m;

let composed: { html: string; policy: string } | undefined;

/**
 * The fallback's verify, written inside @noble/ed25519's scope: its strict
 * verification (canonical R and A, S below L, A not of small order, the
 * cofactored equation [8][S]B = [8]R + [8][k]A), then the cofactorless
 * equation [S]B - [k]A = R that WebCrypto (BoringSSL, OpenSSL, NSS) checks,
 * so that a signature whose R carries a small-order component, which only a
 * cofactored check accepts, gets the verdict WebCrypto gives it.
 */
const FALLBACK_VERIFY = `async (signature, message, publicKey) => {
  if (!(await verifyAsync(signature, message, publicKey, { zip215: false }))) return false;
  const littleEndian = (bytes) => bytes.reduceRight((value, byte) => (value << 8n) | BigInt(byte), 0n);
  const r = signature.subarray(0, 32);
  const n = Point.CURVE().n;
  const k = etc.mod(littleEndian(await hashes.sha512Async(etc.concatBytes(r, publicKey, message))), n);
  const s = littleEndian(signature.subarray(32, 64));
  return Point.BASE.multiply(s, false).subtract(Point.fromBytes(publicKey).multiply(k, false)).equals(Point.fromBytes(r));
}`;

/**
 * The pure-JS Ed25519 the page falls back on where the browser's WebCrypto
 * lacks Ed25519: @noble/ed25519's own index.js, as npm installed it at the
 * version package.json pins, copied here when the page is composed (not
 * kept in this repository), wrapped in a function so that its names stay
 * its own. It hashes with WebCrypto's SHA-512 and verifies strictly (RFC
 * 8032, not ZIP-215), as WebCrypto does.
 */
export function ed25519FallbackSource(): { expression: string; version: string; sha256: string } {
  const require = createRequire(import.meta.url);
  const path = require.resolve('@noble/ed25519');
  const { version } = require('@noble/ed25519/package.json') as { version: string };
  const source = readFileSync(path, 'utf8');
  const exports = source.match(new RegExp(NOBLE_EXPORT.source, 'gm')) ?? [];
  const body = source.replace(NOBLE_EXPORT, '');
  // Its doc comments show `import` in examples: only code outside block comments counts.
  const code = body.replace(/\/\*[\s\S]*?\*\//g, '');
  if (
    exports.length !== 1 ||
    /^\s*(import|export)\b/m.test(code) ||
    !['verifyAsync', 'Point', 'etc', 'hashes'].every((name) => new RegExp(`\\b${name}\\b`).test(exports[0]!))
  )
    throw new Error(`@noble/ed25519 ${version} is not laid out as the auditor page expects (one export statement)`);
  const sha256 = createHash('sha256').update(source, 'utf8').digest('hex');
  const name = `@noble/ed25519 ${version} (index.js SHA-256 ${sha256})`;
  const expression = `(() => {\n${body}\nreturn { name: ${JSON.stringify(name)}, verify: ${FALLBACK_VERIFY} };\n})()`;
  return { expression, version, sha256 };
}

/** The Content-Security-Policy of the page whose one script is `script`. */
export function auditorPagePolicy(script: string): string {
  const hash = createHash('sha256').update(script, 'utf8').digest('base64');
  return [
    "default-src 'none'",
    `script-src 'sha256-${hash}'`,
    "style-src 'unsafe-inline'",
    // Only the API that serves the page (its bundle); from a bundle's folder, no connection at all.
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
}

let checkerText: string | undefined;

/** The checker's source, as Node auditors take it (GET /auditor/checker.mjs), read once per process. */
export function checkerSource(): string {
  checkerText ??= readFileSync(CHECKER_URL, 'utf8');
  return checkerText;
}

/** What both routes send besides their policy: always revalidated, never sniffed, never framed. */
export const AUDITOR_HEADERS = {
  'Cache-Control': 'no-cache',
  'X-Content-Type-Options': 'nosniff',
} as const;

/** The page, composed once per process: { html, policy }. */
export function auditorPage(): { html: string; policy: string } {
  composed ??= compose();
  return composed;
}

function compose(): { html: string; policy: string } {
  const html = readFileSync(new URL('index.html', AUDITOR_FOLDER), 'utf8');
  const page = readFileSync(new URL('page.mjs', AUDITOR_FOLDER), 'utf8');
  if (!CHECKER_IMPORT.test(page)) throw new Error('auditor/page.mjs does not import the checker as expected');
  const checker = checkerSource();
  if (!page.includes(CHECKER_SHA256_PLACEHOLDER))
    throw new Error('auditor/page.mjs lost its checker SHA-256 placeholder');
  if (!page.includes(ED25519_FALLBACK_PLACEHOLDER))
    throw new Error('auditor/page.mjs lost its Ed25519 fallback placeholder');
  const checkerSha256 = createHash('sha256').update(checker, 'utf8').digest('hex');
  const fallback = ed25519FallbackSource().expression;
  const pageScript = page
    .replace(CHECKER_IMPORT, '')
    .replace(CHECKER_SHA256_PLACEHOLDER, `'${checkerSha256}'`)
    .replace(ED25519_FALLBACK_PLACEHOLDER, () => fallback);
  const script = `\n${checker}\n${pageScript}`;
  // Nothing in the scripts may close the script element early.
  if (/<\/script/i.test(script) || !html.includes(PAGE_SCRIPT_TAG))
    throw new Error('the auditor page cannot be composed: a script holds </script, or index.html lost its script tag');
  const policy = auditorPagePolicy(script);
  const composedHtml = html
    .replace(
      '<meta charset="utf-8" />',
      `<meta charset="utf-8" />\n    <meta http-equiv="Content-Security-Policy" content="${policy}" />`,
    )
    .replace(PAGE_SCRIPT_TAG, () => `<script type="module">${script}</script>`);
  return { html: composedHtml, policy };
}
