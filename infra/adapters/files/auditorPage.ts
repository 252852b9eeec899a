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

const AUDITOR_FOLDER = new URL('../../../auditor/', import.meta.url);
export const CHECKER_URL = new URL('checker.mjs', AUDITOR_FOLDER);
const PAGE_SCRIPT_TAG = '<script type="module" src="page.mjs"></script>';
const CHECKER_IMPORT = /^import \{[^}]*\} from '\.\/checker\.mjs';\n/m;
const CHECKER_SHA256_PLACEHOLDER = "'CHECKER-SHA256'";

let composed: { html: string; policy: string } | undefined;

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
  const checkerSha256 = createHash('sha256').update(checker, 'utf8').digest('hex');
  const script = `\n${checker}\n${page.replace(CHECKER_IMPORT, '').replace(CHECKER_SHA256_PLACEHOLDER, `'${checkerSha256}'`)}`;
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
