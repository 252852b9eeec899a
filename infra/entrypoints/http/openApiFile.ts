/**
 * The OpenAPI document written at build time (OPENAPI_PATH, default /app/openapi.yaml, where the image
 * puts it: scripts/image/build-app.sh runs `chainbook openapi --output`). `serve` reads it once at start
 * and serves it as is at GET /openapi.yaml; GET /openapi.json is the same document as JSON.
 *
 * A published document that is not the one requests are validated with misleads every client generated
 * from it, so with NODE_ENV=production `serve` refuses to start when the file is missing, is not YAML,
 * or differs (as data, after parsing) from the document of the running code. Elsewhere the generated
 * document is served, and a differing file is reported as a warning.
 */
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { ConfigError } from '../../wiring/config.ts';
import { VERSION } from '../../wiring/version.ts';

export const DEFAULT_OPENAPI_PATH = '/app/openapi.yaml';
/** Larger than any document of ours (about 200 KiB) by far; a bigger file is not ours. */
export const MAX_OPENAPI_FILE_BYTES = 8 * 1024 * 1024;

/** The document as YAML, without anchors or aliases (a reader sees each schema where it is used). */
export function openApiYaml(document: unknown): string {
  return (
    `# The OpenAPI document of chainbook ${VERSION}, written by \`chainbook openapi\` from the route table;\n` +
    `# served at /openapi.yaml. Do not edit: NODE_ENV=production refuses a document that differs.\n` +
    stringify(document, { aliasDuplicateObjects: false, lineWidth: 0 })
  );
}

/** The JSON pointer of the first place where `actual` differs from `expected`; undefined when they are equal. */
export function firstDifference(expected: unknown, actual: unknown, pointer = ''): string | undefined {
  if (Object.is(expected, actual)) return undefined;
  const bothArrays = Array.isArray(expected) && Array.isArray(actual);
  const bothObjects =
    typeof expected === 'object' &&
    typeof actual === 'object' &&
    expected !== null &&
    actual !== null &&
    !Array.isArray(expected) &&
    !Array.isArray(actual);
  if (!bothArrays && !bothObjects) return pointer === '' ? '/' : pointer;
  const left = expected as Record<string, unknown>;
  const right = actual as Record<string, unknown>;
  const keys = [...new Set([...Object.keys(left), ...Object.keys(right)])];
  for (const key of keys) {
    const child = `${pointer}/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`;
    if (!(key in left) || !(key in right)) return child;
    const found = firstDifference(left[key], right[key], child);
    if (found !== undefined) return found;
  }
  return undefined;
}

export interface ServedOpenApi {
  /** The text GET /openapi.yaml answers; undefined: made from the generated document when first asked. */
  yaml: string | undefined;
  /** The file served, when it is served. */
  path: string | undefined;
  /** Outside production: why the file is not served. */
  warning: string | undefined;
}

/** The file's problem, or its text and parsed content. */
function readDocument(path: string): { problem: string } | { text: string; content: unknown } {
  let text: string;
  try {
    const size = statSync(path).size;
    if (size > MAX_OPENAPI_FILE_BYTES) return { problem: `is ${size} bytes, more than ${MAX_OPENAPI_FILE_BYTES}` };
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return { problem: code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? String(error)})` };
  }
  try {
    return { text, content: parse(text, { uniqueKeys: true, maxAliasCount: 0 }) as unknown };
  } catch (error) {
    return {
      problem: `is not a YAML document: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`,
    };
  }
}

/**
 * What `serve` publishes: OPENAPI_PATH's file when it holds `document`; in production a missing,
 * unreadable or differing file is a ConfigError naming OPENAPI_PATH and the way to write it again.
 */
export function openApiToServe(env: NodeJS.ProcessEnv, production: boolean, document: unknown): ServedOpenApi {
  const configured = (env['OPENAPI_PATH'] ?? '').trim();
  const path = resolve(configured === '' ? DEFAULT_OPENAPI_PATH : configured);
  const read = readDocument(path);
  const generated = JSON.parse(JSON.stringify(document)) as unknown;
  const difference = 'problem' in read ? undefined : firstDifference(generated, read.content);
  const problem =
    'problem' in read
      ? read.problem
      : difference === undefined
        ? undefined
        : `differs from the document this build validates requests with (first at ${difference})`;
  if (problem === undefined && 'text' in read) return { yaml: read.text, path, warning: undefined };
  if (production) {
    throw new ConfigError([
      `OPENAPI_PATH: ${path} ${problem}; NODE_ENV=production serves the document written at build time (write it with \`chainbook openapi --output ${path}\`, as scripts/image/build-app.sh does)`,
    ]);
  }
  const silent = configured === '' && 'problem' in read && read.problem === 'does not exist';
  return {
    yaml: undefined,
    path: undefined,
    warning: silent ? undefined : `OPENAPI_PATH: ${path} ${problem}; serving the generated document`,
  };
}
