import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { CHAIN_ERROR_CODES, ChainError } from '../../../../chain/errors.ts';
import { CodedError } from '../../../../domain/errors.ts';
import { errorResponse, HTTP_STATUS_BY_CODE, HttpError } from '../../../../infra/entrypoints/http/errors.ts';

/** Every code literal in the layers whose errors reach a caller: `'UPPER_SNAKE'` strings (all of them are codes there). */
function codesIn(directory: string): Set<string> {
  const codes = new Set<string>();
  for (const name of readdirSync(directory)) {
    const path = join(directory, name);
    if (statSync(path).isDirectory()) for (const code of codesIn(path)) codes.add(code);
    else if (name.endsWith('.ts'))
      for (const match of readFileSync(path, 'utf8').matchAll(/'([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)'/g))
        codes.add(match[1]!);
  }
  return codes;
}

/** The configuration variables of the README's table, which code may name (a content rule names its list's variable). */
function configurationVariables(): Set<string> {
  const names = new Set<string>();
  for (const row of readFileSync('README.md', 'utf8').matchAll(/^\| (`[A-Z][A-Z0-9_]*`(?:, `[A-Z][A-Z0-9_]*`)*) \|/gm))
    for (const name of row[1]!.matchAll(/`([A-Z][A-Z0-9_]*)`/g)) names.add(name[1]!);
  return names;
}

test('every code the domain, commands, projections and chain can throw has an HTTP status', (t) => {
  const variables = configurationVariables();
  t.true(variables.has('DATABASE_URL') && variables.has('CONTENT_BLOCKED_WORDS'), 'the configuration table is read');
  const codes = new Set(
    [
      ...CHAIN_ERROR_CODES,
      ...['domain', 'commands', 'projections', 'chain'].flatMap((directory) => [...codesIn(directory)]),
    ].filter((code) => !variables.has(code)),
  );
  t.true(codes.size > 60, `found only ${codes.size} codes: the scan is broken`);
  t.true(
    codes.has('LEDGER_UNBALANCED') && codes.has('INVALID_REASON') && codes.has('PAYMENT_ID_IN_USE'),
    'codes passed as arguments and thrown by projections are found',
  );
  const unmapped = [...codes].filter((code) => HTTP_STATUS_BY_CODE[code] === undefined);
  t.deepEqual(unmapped, [], `map these in infra/entrypoints/http/errors.ts: ${unmapped.join(', ')}`);
});

test('business rejections map to 4xx, unavailability to 503, and nothing the caller did to 500', (t) => {
  t.is(HTTP_STATUS_BY_CODE['INVALID_INPUT'], 400);
  t.is(HTTP_STATUS_BY_CODE['FORBIDDEN_ROLE'], 403);
  t.is(HTTP_STATUS_BY_CODE['ORDER_NOT_FOUND'], 404);
  t.is(HTTP_STATUS_BY_CODE['STREAM_VERSION_CONFLICT'], 409);
  t.is(HTTP_STATUS_BY_CODE['IDEMPOTENCY_KEY_REUSED'], 422);
  t.is(HTTP_STATUS_BY_CODE['SIGNING_UNAVAILABLE'], 503);
  for (const [code, status] of Object.entries(HTTP_STATUS_BY_CODE)) {
    if (status === 500)
      t.true(
        // DELIVERY_ARTIFACT_CHANGED: the artifact store no longer holds the bytes the chain recorded (corrupt data);
        // STREAM_DISCONTINUITY: the chain shows a subscriber a gap or a broken link (corrupt data).
        [
          'INTERNAL',
          'INVALID_DOMAIN_EVENT',
          'INVALID_SIGNER_REGISTRY',
          'DELIVERY_ARTIFACT_CHANGED',
          'STREAM_DISCONTINUITY',
        ].includes(code),
        `${code} is a bug, not the caller's fault`,
      );
  }
});

test('an error that is not coded becomes 500 INTERNAL with the request id and no message or stack', (t) => {
  const answer = errorResponse(new Error('secret connection string postgres://u:p@h/db'), 'req-1');
  t.is(answer.status, 500);
  t.true(answer.internal);
  t.deepEqual(answer.body, {
    error: {
      code: 'INTERNAL',
      message: 'internal error; the log has it under request id req-1',
      details: { requestId: 'req-1' },
    },
  });
  t.is(errorResponse(new CodedError('NOT_A_KNOWN_CODE', 'x'), 'r').status, 500, 'an unmapped code is a bug too');
});

test('unavailability and rate limits carry Retry-After', (t) => {
  t.is(errorResponse(new ChainError('SIGNING_UNAVAILABLE', 'kms down'), 'r').headers['Retry-After'], '5');
  t.is(
    errorResponse(new HttpError('RATE_LIMITED', 'slow down', {}, { 'Retry-After': '42' }), 'r').headers['Retry-After'],
    '42',
  );
});

test("express's body parser failures map to 413, 400 and 415", (t) => {
  t.is(errorResponse(Object.assign(new Error('too large'), { type: 'entity.too.large', limit: 10 }), 'r').status, 413);
  t.is(
    errorResponse(Object.assign(new Error('bad'), { type: 'entity.parse.failed' }), 'r').body.error.code,
    'INVALID_JSON',
  );
  t.is(errorResponse(Object.assign(new Error('latin1'), { type: 'charset.unsupported' }), 'r').status, 415);
});
