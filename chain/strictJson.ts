/**
 * A strict JSON parser for what callers send to be signed (HTTP bodies, the
 * lines of `chainbook append`). JSON.parse changes input silently: it takes
 * the last of two equal keys, rounds 1999.0000000000001 to the integer 1999,
 * and, after a lenient UTF-8 decode, signs U+FFFD for a bad byte. A signed log
 * must record what was sent or nothing (docs/DESIGN.md, "The one idea"), so
 * this parser refuses, with the position:
 *
 * - bytes that are not UTF-8 (decoded with a fatal decoder), and a BOM;
 * - a key repeated in one object;
 * - a number written with a fraction or an exponent whose value is an integer
 *   (`1999.0000000000001`, `1e3`, `2.0`): where an integer is expected it
 *   would pass as another number than the one written;
 * - an integer outside ±(2^53 − 1), or a number that overflows, which cannot
 *   be kept exactly;
 * - a string (key or value) holding U+0000 or a lone surrogate: PostgreSQL
 *   refuses NUL in text, RFC 8785 refuses lone surrogates, so neither can be
 *   recorded the same way on both engines (docs/FORMAT.md section 2);
 * - nesting deeper than MAX_JSON_DEPTH.
 *
 * Everything else is RFC 8259 JSON, parsed to the same values as JSON.parse
 * (`__proto__` is an own property, as there).
 */

/** Nesting of arrays and objects accepted; the chain's own limit on data is lower (chain/limits.ts). */
export const MAX_JSON_DEPTH = 64;

export class StrictJsonError extends Error {
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(message);
    this.name = 'StrictJsonError';
  }
}

/** Why a string cannot be accepted from a caller; undefined when it can. Used for paths and queries as well. */
export function stringProblem(text: string): string | undefined {
  if (text.includes('\u0000')) return 'contains U+0000 (NUL)';
  if (!text.isWellFormed()) return 'contains a lone surrogate';
  return undefined;
}

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const WHITESPACE = /[ \t\n\r]*/y;
// RFC 8259 section 7: control characters must be escaped in a string, so a run of plain characters stops at one.
// eslint-disable-next-line no-control-regex -- the control characters are what the pattern is about
const PLAIN_RUN = /[^"\\\u0000-\u001f]*/y;
const NUMBER = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;
const HEX4 = /^[0-9a-fA-F]{4}$/;
const ESCAPES: Readonly<Record<string, string>> = {
  '"': '"',
  '\\': '\\',
  '/': '/',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
};

class Scanner {
  position = 0;
  constructor(readonly text: string) {}

  fail(message: string, at = this.position): never {
    throw new StrictJsonError(`${message} at character ${at}`, at);
  }

  skipWhitespace(): void {
    WHITESPACE.lastIndex = this.position;
    WHITESPACE.test(this.text);
    this.position = WHITESPACE.lastIndex;
  }

  value(depth: number): unknown {
    this.skipWhitespace();
    const char = this.text[this.position];
    switch (char) {
      case '{':
        return this.object(depth + 1);
      case '[':
        return this.array(depth + 1);
      case '"':
        return this.string();
      case 't':
        return this.literal('true', true);
      case 'f':
        return this.literal('false', false);
      case 'n':
        return this.literal('null', null);
      case undefined:
        return this.fail('unexpected end of the JSON text');
      default:
        return this.number();
    }
  }

  literal<T>(word: string, value: T): T {
    if (!this.text.startsWith(word, this.position)) this.fail('unexpected character');
    this.position += word.length;
    return value;
  }

  number(): number {
    const start = this.position;
    NUMBER.lastIndex = start;
    const match = NUMBER.exec(this.text);
    if (!match) return this.fail('unexpected character');
    this.position = NUMBER.lastIndex;
    const value = Number(match[0]);
    const written = match[1] !== undefined || match[2] !== undefined;
    if (!Number.isFinite(value)) this.fail(`the number ${match[0].slice(0, 40)} is out of range`, start);
    if (written && Number.isInteger(value))
      this.fail(`the number ${match[0].slice(0, 40)} has a fraction or exponent but the value of an integer`, start);
    if (!written && !Number.isSafeInteger(value))
      this.fail(`the integer ${match[0].slice(0, 40)} is outside ±(2^53 − 1)`, start);
    return value;
  }

  string(): string {
    const start = this.position;
    this.position += 1;
    let result = '';
    for (;;) {
      PLAIN_RUN.lastIndex = this.position;
      PLAIN_RUN.test(this.text);
      result += this.text.slice(this.position, PLAIN_RUN.lastIndex);
      this.position = PLAIN_RUN.lastIndex;
      const char = this.text[this.position];
      if (char === '"') break;
      if (char === undefined) this.fail('unterminated string', start);
      if (char !== '\\') this.fail('a control character in a string must be escaped');
      result += this.escape();
    }
    this.position += 1;
    const problem = stringProblem(result);
    if (problem !== undefined) this.fail(`the string ${problem}`, start);
    return result;
  }

  escape(): string {
    const letter = this.text[this.position + 1];
    if (letter === 'u') {
      const hex = this.text.slice(this.position + 2, this.position + 6);
      if (!HEX4.test(hex)) this.fail('a \\u escape needs four hex digits');
      this.position += 6;
      return String.fromCharCode(Number.parseInt(hex, 16));
    }
    const replacement = letter === undefined ? undefined : ESCAPES[letter];
    if (replacement === undefined) this.fail('unknown escape in a string');
    this.position += 2;
    return replacement;
  }

  expect(char: string): void {
    if (this.text[this.position] !== char) this.fail(`expected '${char}'`);
    this.position += 1;
  }

  array(depth: number): unknown[] {
    if (depth > MAX_JSON_DEPTH) this.fail(`nested deeper than ${MAX_JSON_DEPTH}`);
    this.position += 1;
    const items: unknown[] = [];
    this.skipWhitespace();
    if (this.text[this.position] === ']') {
      this.position += 1;
      return items;
    }
    for (;;) {
      items.push(this.value(depth));
      this.skipWhitespace();
      if (this.text[this.position] === ']') break;
      this.expect(',');
    }
    this.position += 1;
    return items;
  }

  object(depth: number): Record<string, unknown> {
    if (depth > MAX_JSON_DEPTH) this.fail(`nested deeper than ${MAX_JSON_DEPTH}`);
    this.position += 1;
    const entries: [string, unknown][] = [];
    const keys = new Set<string>();
    this.skipWhitespace();
    if (this.text[this.position] === '}') {
      this.position += 1;
      return {};
    }
    for (;;) {
      this.skipWhitespace();
      if (this.text[this.position] !== '"') this.fail('expected a key in double quotes');
      const at = this.position;
      const key = this.string();
      if (keys.has(key)) this.fail(`the key ${JSON.stringify(key).slice(0, 60)} appears twice`, at);
      keys.add(key);
      this.skipWhitespace();
      this.expect(':');
      entries.push([key, this.value(depth)]);
      this.skipWhitespace();
      if (this.text[this.position] === '}') break;
      this.expect(',');
    }
    this.position += 1;
    // fromEntries defines own properties, so "__proto__" is a key as with JSON.parse, never the prototype.
    return Object.fromEntries(entries);
  }
}

/** Parses JSON text strictly (see the opening comment). */
export function parseStrictJson(text: string): unknown {
  const scanner = new Scanner(text);
  const value = scanner.value(0);
  scanner.skipWhitespace();
  if (scanner.position !== text.length) scanner.fail('unexpected text after the JSON value');
  return value;
}

/** Decodes UTF-8 bytes (refusing invalid sequences and a byte order mark), then parses strictly. */
export function parseStrictJsonBytes(bytes: Uint8Array): unknown {
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    throw new StrictJsonError('the body is not valid UTF-8', 0);
  }
  if (text.startsWith('\ufeff')) throw new StrictJsonError('the body starts with a byte order mark', 0);
  return parseStrictJson(text);
}
