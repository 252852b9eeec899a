/**
 * OPENAPI_PATH's document (infra/entrypoints/http/openApiFile.ts) and the development placeholders
 * (infra/wiring/devPlaceholders.ts): what production refuses and what development serves instead.
 * The real CLI's refusals, from the image layout: test/scripts/image.int.test.ts.
 */
import test from 'ava';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { openApiDocument } from '../../../../infra/entrypoints/http/openapi.ts';
import { firstDifference, openApiToServe, openApiYaml } from '../../../../infra/entrypoints/http/openApiFile.ts';
import { ROUTES } from '../../../../infra/entrypoints/http/server.ts';
import { ConfigError } from '../../../../infra/wiring/config.ts';
import { devPlaceholderProblems, refusingPlaceholders } from '../../../../infra/wiring/devPlaceholders.ts';
import { tempDir } from '../../../helpers/runtime.ts';

const document = openApiDocument(ROUTES);

test('the YAML text parses back to the document exactly, without anchors', (t) => {
  const text = openApiYaml(document);
  t.notRegex(text, /[&*]id\d+/);
  t.deepEqual(parse(text), JSON.parse(JSON.stringify(document)));
});

test('firstDifference names the JSON pointer of the first difference, escaping / and ~', (t) => {
  t.is(firstDifference({ a: [1, 2] }, { a: [1, 2] }), undefined);
  t.is(firstDifference({ a: [1, 2] }, { a: [1, 3] }), '/a/1');
  t.is(firstDifference({ paths: { '/x~y': { get: 1 } } }, { paths: { '/x~y': {} } }), '/paths/~1x~0y/get');
  t.is(firstDifference({ a: 1 }, { a: 1, b: 2 }), '/b');
  t.is(firstDifference({ a: [] }, { a: {} }), '/a');
  t.is(firstDifference(1, 2), '/');
});

test('a current file is served as is, in production and elsewhere', (t) => {
  const folder = tempDir('openapi-unit');
  t.teardown(() => rmSync(folder, { recursive: true, force: true }));
  const path = join(folder, 'openapi.yaml');
  writeFileSync(path, openApiYaml(document));
  for (const production of [true, false]) {
    const served = openApiToServe({ OPENAPI_PATH: path }, production, document);
    t.deepEqual(served, { yaml: openApiYaml(document), path, warning: undefined });
  }
});

test('production refuses a missing, empty or differing file with a ConfigError naming OPENAPI_PATH; development serves the generated document, warning unless the default path is simply absent', (t) => {
  const folder = tempDir('openapi-unit');
  t.teardown(() => rmSync(folder, { recursive: true, force: true }));
  const differing = join(folder, 'old.yaml');
  writeFileSync(differing, openApiYaml({ ...document, info: { title: 'Chainbook', version: '0.0.1' } }));
  const empty = join(folder, 'empty.yaml');
  writeFileSync(empty, '');
  const cases: [string, RegExp][] = [
    [join(folder, 'none.yaml'), /does not exist/],
    [differing, /differs from the document this build validates requests with \(first at \/info\/version\)/],
    [empty, /differs .*first at \/\)/],
  ];
  for (const [path, message] of cases) {
    const error = t.throws(() => openApiToServe({ OPENAPI_PATH: path }, true, document), { instanceOf: ConfigError });
    t.regex(error?.message ?? '', new RegExp(`OPENAPI_PATH: ${path.replaceAll('/', '\\/')} `));
    t.regex(error?.message ?? '', message);
    const development = openApiToServe({ OPENAPI_PATH: path }, false, document);
    t.is(development.yaml, undefined);
    t.regex(development.warning ?? '', /serving the generated document/);
  }
  // No OPENAPI_PATH outside the image: /app/openapi.yaml is not there, which needs no warning.
  t.is(openApiToServe({}, false, document).warning, undefined);
});

test('production refuses every variable holding a dev-only placeholder, naming it and never its value; elsewhere nothing', (t) => {
  const env = { NODE_ENV: 'production', A_KEY: 'dev-only-secret', B_URL: 'postgres://u:DEV-ONLY@h/db', C: 'fine' };
  t.deepEqual(devPlaceholderProblems(env), [
    'A_KEY: a development placeholder (its value contains "dev-only"), refused when NODE_ENV=production',
    'B_URL: a development placeholder (its value contains "dev-only"), refused when NODE_ENV=production',
  ]);
  t.deepEqual(devPlaceholderProblems({ ...env, NODE_ENV: 'development' }), []);
  // Together with the loader's own problems, in one refusal.
  const error = t.throws(
    () =>
      refusingPlaceholders(env, () => {
        throw new ConfigError(['PORT: must be an integer']);
      }),
    { instanceOf: ConfigError },
  );
  t.deepEqual(error?.details['problems'], ['PORT: must be an integer', ...devPlaceholderProblems(env)]);
  t.notRegex(error?.message ?? '', /dev-only-secret|DEV-ONLY@/);
  t.is(
    refusingPlaceholders({ C: 'fine' }, () => 42),
    42,
  );
});
