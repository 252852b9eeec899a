/**
 * The laptop stack (deploy/compose/compose.yaml): valid under the Compose Specification's JSON
 * schema (test/outsideVectors/compose-spec/, checked with ajv), and our own rules: every variable a
 * Chainbook service reads is in the README's configuration table, the Chainbook containers run as
 * the Kubernetes manifests do (user 10001, read-only root, no capability, no privilege gain), the
 * archive bucket is made with Object Lock and the topic exists before the relay starts, and no secret
 * is written in the file but development placeholders, which the real CLI refuses with
 * NODE_ENV=production.
 */
import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { parse } from 'yaml';
import { DEV_PLACEHOLDER_MARKER } from '../../infra/wiring/devPlaceholders.ts';
import { ConfigError } from '../../infra/wiring/config.ts';
import { loadServeConfig } from '../../infra/wiring/httpConfig.ts';
import { runCli } from '../helpers/cli.ts';
import { ROOT } from '../helpers/build.ts';

const COMPOSE_PATH = join(ROOT, 'deploy', 'compose', 'compose.yaml');
const SCHEMA_PATH = join(ROOT, 'test', 'outsideVectors', 'compose-spec', 'compose-spec.json');
const draft07 = createRequire(import.meta.url)('ajv/dist/refs/json-schema-draft-07.json') as Record<string, unknown>;

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  user?: string;
  read_only?: boolean;
  cap_drop?: string[];
  security_opt?: string[];
  tmpfs?: string[];
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
}
interface Compose {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
}

/** The file as Compose reads it: YAML merge keys (`<<: *chainbook`) applied. */
const text = readFileSync(COMPOSE_PATH, 'utf8');
const compose = parse(text, { merge: true }) as Compose;

function schemaValidator(): ValidateFunction {
  // The specification names its meta-schema https://json-schema.org/draft-07/schema, ajv's copy http://…#.
  const ajv = new Ajv({ allErrors: true, allowUnionTypes: true, strictTypes: false });
  ajv.addMetaSchema({ ...draft07, $id: 'https://json-schema.org/draft-07/schema' });
  return ajv.compile(JSON.parse(readFileSync(SCHEMA_PATH, 'utf8')) as object);
}

/** The services built from the repository's Dockerfile (or run from its image). */
const chainbookServices = Object.entries(compose.services).filter(
  ([, service]) => service.build !== undefined || service.image === 'chainbook:dev',
);

test('the compose file is valid under the Compose Specification schema, which refuses a broken copy', (t) => {
  const validate = schemaValidator();
  t.true(validate(compose), JSON.stringify(validate.errors, null, 2));
  const broken = structuredClone(compose) as unknown as { services: Record<string, Record<string, unknown>> };
  broken.services['api']!['read_only'] = 7;
  broken.services['api']!['restart_policy'] = 'always';
  t.false(validate(broken));
  t.deepEqual(
    validate.errors?.map((error) => error.instancePath),
    ['/services/api', '/services/api/read_only'],
  );
});

test('every variable of a Chainbook service is in the README configuration table', (t) => {
  const documented = new Set<string>();
  for (const row of readFileSync(join(ROOT, 'README.md'), 'utf8').matchAll(
    /^\| (`[A-Z][A-Z0-9_]*`(?:, `[A-Z][A-Z0-9_]*`)*) \|/gm,
  ))
    for (const name of row[1]!.matchAll(/`([A-Z0-9_]+)`/g)) documented.add(name[1]!);
  t.true(chainbookServices.length >= 3, chainbookServices.map(([name]) => name).join(', '));
  for (const [name, service] of chainbookServices) {
    const variables = Object.keys(service.environment ?? {});
    // And those the entrypoint script sets.
    for (const set of (service.entrypoint ?? []).join(' ').matchAll(/\b([A-Z][A-Z0-9_]+)=/g)) variables.push(set[1]!);
    for (const variable of variables) t.true(documented.has(variable), `${name}: ${variable}`);
  }
});

test('the Chainbook containers run as in Kubernetes: user 10001, read-only root, no capability, no privilege gain, /tmp and the data folder writable', (t) => {
  for (const [name, service] of chainbookServices) {
    if (name === 'registry-init') {
      t.deepEqual(
        service.command,
        ['chown', '10001:10001', '/registry'],
        'the one root step, on the registry volume only',
      );
      continue;
    }
    t.is(service.user, '10001:10001', name);
    t.true(service.read_only, name);
    t.deepEqual(service.cap_drop, ['ALL'], name);
    t.deepEqual(service.security_opt, ['no-new-privileges:true'], name);
    t.deepEqual(service.tmpfs, ['/tmp'], name);
    t.true(
      service.volumes?.some((volume) => volume.endsWith(':/var/lib/chainbook')),
      `${name}: the data folder is a volume`,
    );
    t.is(service.environment?.['CHAINBOOK_DATA_DIR'], '/var/lib/chainbook', name);
    const context = resolve(dirname(COMPOSE_PATH), service.build!.context);
    t.is(context, resolve(ROOT), name);
    t.true(existsSync(join(context, service.build!.dockerfile)), name);
  }
  t.deepEqual(compose.services['api']?.command, ['serve']);
  t.deepEqual(compose.services['signing-proxy']?.command?.slice(0, 3), ['node', 'bin/chainbook.js', 'signing-proxy']);
});

test('the stack wires its parts: the archive bucket is made with Object Lock, the topic exists, the API signs through the proxy', (t) => {
  const api = compose.services['api']!.environment!;
  const bucket = /^s3:\/\/([^/]+)/.exec(api['ARCHIVE_TARGET'] ?? '')?.[1];
  t.truthy(bucket);
  const minioInit = compose.services['minio-init']!.entrypoint!.join(' ');
  t.regex(minioInit, new RegExp(`mc mb --ignore-existing --with-lock local/${bucket}\\b`));
  t.regex(
    compose.services['redpanda-init']!.entrypoint!.join(' '),
    new RegExp(`rpk topic create ${api['KAFKA_TOPIC']} -X brokers=${api['KAFKA_BROKERS']}`),
  );
  t.is(api['SIGNING_BACKEND'], 'proxy');
  t.regex(api['SIGNING_PROXY_URL'] ?? '', /^http:\/\/signing-proxy:8443$/);
  const clients = compose.services['signing-proxy']!.environment!['SIGNING_PROXY_CLIENTS'];
  t.is(clients, `api:${api['SIGNING_PROXY_API_KEY']}`);
  t.is(api['S3_ACCESS_KEY_ID'], compose.services['minio']!.environment!['MINIO_ROOT_USER']);
  t.is(api['S3_SECRET_ACCESS_KEY'], compose.services['minio']!.environment!['MINIO_ROOT_PASSWORD']);
});

/** serve's start-up problems (infra/wiring/httpConfig.ts) for an environment; none: it would start. */
function serveProblems(env: Record<string, string>): string[] {
  try {
    loadServeConfig(env);
    return [];
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.details['problems'] as string[];
  }
}

test("the API service would start: its environment (with the kid its entrypoint reads) passes serve's configuration checks; plain HTTP on 0.0.0.0 only because DEV_SKIP_MTLS=true outside production", (t) => {
  const api: Record<string, string> = { ...compose.services['api']!.environment!, SIGNING_KID: 'chainbook-dev-1' };
  t.is(api['NODE_ENV'], 'development');
  t.is(api['DEV_SKIP_MTLS'], 'true');
  t.deepEqual(serveProblems(api), []);
  // Published on the laptop's loopback only.
  t.true((compose.services['api'] as { ports?: string[] }).ports?.every((port) => port.startsWith('127.0.0.1:')));
  const withoutSkip = { ...api };
  delete withoutSkip['DEV_SKIP_MTLS'];
  t.true(serveProblems(withoutSkip).some((problem) => problem.startsWith('HOST: 0.0.0.0 is reachable')));
  t.true(
    serveProblems({ ...api, NODE_ENV: 'production' }).some((problem) =>
      problem.startsWith('DEV_SKIP_MTLS: must be false'),
    ),
  );
});

test('the exporter serves /metrics on METRICS_PORT, published on the loopback', (t) => {
  const exporter = compose.services['exporter'] as Service & { ports?: string[] };
  t.deepEqual(exporter.command?.slice(0, 2), ['export', '--every']);
  const port = exporter.environment?.['METRICS_PORT'];
  t.regex(port ?? '', /^\d+$/);
  t.is(exporter.environment?.['METRICS_HOST'], '0.0.0.0');
  t.deepEqual(exporter.ports, [`127.0.0.1:${port}:${port}`]);
});

/** Variables that hold a secret by their name, or a URL with a password. */
const SECRET_NAME = /PASSWORD|SECRET|_KEY$|_KEY_ID$|TOKEN|CLIENTS|^MC_HOST_/;

test('no secret is written in the file but a development placeholder ("dev-only")', (t) => {
  let secrets = 0;
  for (const [name, service] of Object.entries(compose.services)) {
    for (const [variable, value] of Object.entries(service.environment ?? {})) {
      const holdsSecret = SECRET_NAME.test(variable) || /:\/\/[^/@\s]+:[^/@\s]+@/.test(String(value));
      if (!holdsSecret) continue;
      secrets += 1;
      t.true(String(value).includes(DEV_PLACEHOLDER_MARKER), `${name}: ${variable} is not a dev-only placeholder`);
    }
  }
  t.true(secrets >= 8, `${secrets} secrets found`);
  t.false('secrets' in compose, 'no inline secrets section');
});

test('with NODE_ENV=production, serve and signing-proxy refuse the compose file placeholders (exit 2), naming each variable and no value', async (t) => {
  const api = compose.services['api']!.environment!;
  const served = await runCli(['serve'], {
    env: { ...api, NODE_ENV: 'production', SIGNING_KID: 'k', CHAINBOOK_DATA_DIR: '/nonexistent', PORT: '0' },
  });
  t.is(served.code, 2, served.stderr);
  t.regex(served.stderr, /refusing to start/);
  for (const variable of ['DATABASE_URL', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY', 'SIGNING_PROXY_API_KEY'])
    t.regex(served.stderr, new RegExp(`${variable}: a development placeholder`), variable);
  t.notRegex(served.stderr, /dev-only-/, 'no value is repeated');
  const proxy = compose.services['signing-proxy']!.environment!;
  const proxied = await runCli(['signing-proxy', '--port', '0'], {
    env: {
      ...proxy,
      NODE_ENV: 'production',
      SIGNING_BACKEND: 'kms',
      AUDIT_SIGNING_KMS_KEY_ID: 'alias/x',
      AUDIT_SIGNING_ALG: 'ed25519',
      SIGNING_KID: 'k',
      CHAINBOOK_DATA_DIR: '/nonexistent',
    },
  });
  t.is(proxied.code, 2, proxied.stderr);
  t.regex(proxied.stderr, /SIGNING_PROXY_CLIENTS: a development placeholder/);
  t.notRegex(proxied.stderr, /listening/);
});
