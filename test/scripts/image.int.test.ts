/**
 * The container image without a Docker engine: the Dockerfile passes a maintained linter
 * (dockerfile-utils) and says what the manifests rely on, and scripts/image/build-app.sh, the one
 * step that makes /app, is run here into a temp folder. The server then runs from that layout as
 * the image runs it: its code read-only and owned by someone else (as the unprivileged user 10001
 * when the test runs as root), writing only to its data folder and TMPDIR; /ready answers and
 * /openapi.yaml is the file baked in. With NODE_ENV=production the laid-out CLI refuses to start
 * when OPENAPI_PATH names nothing, not YAML, or a document other than the code's, and starts
 * against PostgreSQL and a signing proxy (itself run from the layout) when it is the code's, over
 * HTTPS with mTLS as production requires (certificates made with openssl, as an operator would).
 */
import test, { type ExecutionContext } from 'ava';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join, relative } from 'node:path';
import { DockerfileParser, type Instruction } from 'dockerfile-ast';
import { validate, ValidationSeverity } from 'dockerfile-utils';
import { parse } from 'yaml';
import { DEFAULT_OPENAPI_PATH } from '../../infra/entrypoints/http/openApiFile.ts';
import { compiledBuildIsCurrent, ROOT } from '../helpers/build.ts';
import { runCli } from '../helpers/cli.ts';
import { issueServer, makeCa, type Issued } from '../helpers/certificates.ts';
import { createPostgresDatabase } from '../helpers/databases.ts';
import { tempDir } from '../helpers/runtime.ts';

const SERVICE_UID = 10001;
const asRoot = process.getuid?.() === 0;
const BUILD_TIMEOUT_MS = 600_000;
const READY_TIMEOUT_MS = 60_000;

/** Every validator rule at error severity: a warning fails the test too. */
const LINT_SETTINGS = Object.fromEntries(
  [
    'deprecatedMaintainer',
    'directiveCasing',
    'emptyContinuationLine',
    'instructionCasing',
    'instructionCmdMultiple',
    'instructionEntrypointMultiple',
    'instructionHealthcheckMultiple',
    'instructionJSONInSingleQuotes',
    'instructionWorkdirRelative',
  ].map((rule) => [rule, ValidationSeverity.ERROR]),
);

const dockerfileText = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');

/** The instructions of each stage, by stage name. */
function stages(): Map<string, Instruction[]> {
  const result = new Map<string, Instruction[]>();
  let current: Instruction[] = [];
  for (const instruction of DockerfileParser.parse(dockerfileText).getInstructions()) {
    if (instruction.getKeyword() === 'FROM') {
      current = [];
      result.set(instruction.getArgumentsContent()?.split(/\s+AS\s+/i)[1] ?? '', current);
    } else current.push(instruction);
  }
  return result;
}

function environment(instructions: readonly Instruction[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const instruction of instructions.filter((item) => item.getKeyword() === 'ENV'))
    for (const property of (
      instruction as unknown as { getProperties(): { getName(): string; getValue(): string }[] }
    ).getProperties())
      env[property.getName()] = property.getValue();
  return env;
}

test('the Dockerfile passes dockerfile-utils with every rule an error, which does flag a broken one', (t) => {
  t.deepEqual(
    validate(dockerfileText, LINT_SETTINGS).map((problem) => `${problem.range.start.line + 1}: ${problem.message}`),
    [],
  );
  const broken = 'FROM node:20\nWORKDIR app\nCMD ["a"]\nCMD ["b"]\nCOPYY . .\n';
  t.is(validate(broken, LINT_SETTINGS).length, 3);
});

test('the Dockerfile builds with build-app.sh and runs what the manifests expect: non-root, /app, OPENAPI_PATH, no entrypoint', (t) => {
  const byStage = stages();
  t.deepEqual([...byStage.keys()], ['build', 'runtime']);
  const build = byStage.get('build')!;
  const runtime = byStage.get('runtime')!;
  t.true(
    build.some(
      (item) =>
        item.getKeyword() === 'RUN' && /scripts\/image\/build-app\.sh \/out/.test(item.getArgumentsContent() ?? ''),
    ),
  );
  const copy = runtime.find((item) => item.getKeyword() === 'COPY')!;
  t.is(copy.getArgumentsContent(), '/out/app /app');
  t.deepEqual(
    (copy as unknown as { getFlags(): { getName(): string; getValue(): string }[] })
      .getFlags()
      .map((flag) => [flag.getName(), flag.getValue()]),
    [['from', 'build']],
  );
  const keyword = (name: string) => runtime.filter((item) => item.getKeyword() === name);
  t.is(keyword('USER')[0]?.getArgumentsContent(), `${SERVICE_UID}:${SERVICE_UID}`);
  t.is(keyword('WORKDIR')[0]?.getArgumentsContent(), '/app');
  t.is(keyword('ENTRYPOINT').length, 0, 'Kubernetes args and Compose command give the whole command line');
  t.deepEqual(JSON.parse(keyword('CMD')[0]!.getArgumentsContent()!), ['node', 'bin/chainbook.js', 'serve']);
  t.deepEqual(JSON.parse(keyword('VOLUME')[0]!.getArgumentsContent()!), ['/var/lib/chainbook', '/tmp']);
  t.like(environment(runtime), {
    NODE_ENV: 'production',
    OPENAPI_PATH: DEFAULT_OPENAPI_PATH,
    CHAINBOOK_DATA_DIR: '/var/lib/chainbook',
  });
  // The base image is pinned to a release, never a moving tag.
  t.regex(dockerfileText, /^ARG NODE_IMAGE=node:\d+\.\d+\.\d+-bookworm-slim$/m);
});

/** The layout, built once for the tests below. */
let layout: Promise<{ target: string; app: string; seconds: number; bytes: number }> | undefined;

function buildLayout() {
  layout ??= (async () => {
    const target = tempDir('image');
    const started = performance.now();
    const result = spawnSync('bash', [join(ROOT, 'scripts', 'image', 'build-app.sh'), target], {
      encoding: 'utf8',
      timeout: BUILD_TIMEOUT_MS,
      env: { ...process.env, SKIP_BUILD: compiledBuildIsCurrent() ? '1' : '0' },
    });
    if (result.status !== 0) throw new Error(`build-app.sh: ${result.status}\n${result.stdout}\n${result.stderr}`);
    const seconds = (performance.now() - started) / 1000;
    const app = join(target, 'app');
    // The image's code is root's and read-only; the service user may only pass through.
    chmodSync(target, 0o755);
    spawnSync('chmod', ['-R', 'a-w', app]);
    const bytes = Number(spawnSync('du', ['-sb', app], { encoding: 'utf8' }).stdout.split('\t')[0]);
    console.log(`image layout: ${(bytes / 1024 / 1024).toFixed(1)} MiB in ${seconds.toFixed(1)} s`);
    return { target, app, seconds, bytes };
  })();
  return layout;
}

test.after.always(async () => {
  if (!layout) return;
  const { target } = await layout.catch(() => ({ target: undefined }));
  if (target === undefined) return;
  spawnSync('chmod', ['-R', 'u+w', target]);
  rmSync(target, { recursive: true, force: true });
});

/** A folder the service user owns, as a volume of the image. */
function volume(prefix: string): string {
  const folder = tempDir(prefix);
  if (asRoot) chownSync(folder, SERVICE_UID, SERVICE_UID);
  return folder;
}

/** Every file of the layout with its size and time: what the running server must leave alone. */
function snapshot(app: string): string[] {
  const lines: string[] = [];
  const visit = (path: string): void => {
    const stat = statSync(path);
    lines.push(`${relative(app, path)} ${stat.size} ${stat.mtimeMs}`);
    if (stat.isDirectory()) for (const name of readdirSync(path)) visit(join(path, name));
  };
  visit(app);
  return lines;
}

/** The laid-out CLI, as the image's user, from /app's place. */
function layoutProcess(app: string, args: readonly string[], env: Record<string, string>): ChildProcess {
  const { DATABASE_URL: _inherited, NODE_OPTIONS: _options, ...inherited } = process.env;
  return spawn(process.execPath, ['bin/chainbook.js', ...args], {
    cwd: app,
    env: { ...inherited, NODE_ENV: 'development', LOG_LEVEL: 'warn', ...env },
    stdio: 'pipe',
    ...(asRoot ? { uid: SERVICE_UID, gid: SERVICE_UID } : {}),
  });
}

function runLayout(app: string, args: readonly string[], env: Record<string, string>) {
  const child = layoutProcess(app, args, env);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code) => resolve({ code, stdout, stderr })),
  );
}

/** Starts a long-running command of the layout and waits for `pattern` on stdout; killed at the test's end. */
async function startLayout(
  t: ExecutionContext,
  app: string,
  args: readonly string[],
  env: Record<string, string>,
  pattern: RegExp,
): Promise<{ match: RegExpMatchArray; output: () => string }> {
  const child = layoutProcess(app, args, env);
  t.teardown(() => {
    child.kill('SIGTERM');
  });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no ${pattern} within ${READY_TIMEOUT_MS} ms:\n${output}`)),
      READY_TIMEOUT_MS,
    );
    const look = (chunk: Buffer): void => {
      output += chunk.toString('utf8');
      const match = pattern.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({ match, output: () => output });
      }
    };
    child.stdout!.on('data', look);
    child.stderr!.on('data', look);
    child.on('close', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited ${code} before ${pattern}:\n${output}`));
    });
  });
}

/** GET over HTTPS trusting `ca`, without a client certificate (as a kubelet probe asks). */
function httpsGet(url: string, ca: Buffer): Promise<Response> {
  return new Promise((resolve, reject) => {
    const request = httpsRequest(url, { ca }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve(new Response(Buffer.concat(chunks).toString('utf8'), { status: response.statusCode ?? 0 })),
      );
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end();
  });
}

async function untilReady(url: string, get: (url: string) => Promise<Response> = fetch): Promise<Response> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const response = await get(`${url}/ready`).catch(() => undefined);
    if (response?.status === 200 || Date.now() > deadline) return response ?? Response.error();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test('build-app.sh lays out bin/, dist/, package.json without build scripts, production dependencies only and the OpenAPI document', async (t) => {
  const { app } = await buildLayout();
  t.deepEqual(readdirSync(app).sort(), [
    'bin',
    'dist',
    'node_modules',
    'openapi.yaml',
    'package-lock.json',
    'package.json',
  ]);
  const manifest = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
    dependencies: Record<string, string>;
    devDependencies: Record<string, string>;
  };
  t.deepEqual(manifest.scripts, { start: 'node bin/chainbook.js serve' });
  for (const name of Object.keys(manifest.dependencies))
    t.true(existsSync(join(app, 'node_modules', name, 'package.json')), name);
  for (const name of ['typescript', 'tsx', 'ava', 'eslint', 'prettier', 'dockerfile-utils', 'aws-sdk-client-mock'])
    t.false(existsSync(join(app, 'node_modules', name)), `${name} is a development dependency`);
  t.true(existsSync(join(app, 'node_modules', 'pkcs11js', 'build', 'Release', 'pkcs11.node')), 'pkcs11js compiled');
  const source = await runCli(['openapi']);
  t.is(source.code, 0, source.stderr);
  t.is(readFileSync(join(app, 'openapi.yaml'), 'utf8'), source.stdout, 'the document of the code in this tree');
});

test('from the layout, read-only and as the service user, serve answers /ready and publishes the baked-in document at /openapi.yaml', async (t) => {
  const { app } = await buildLayout();
  const before = snapshot(app);
  const data = volume('image-data');
  const scratch = volume('image-tmp');
  t.teardown(() => {
    rmSync(data, { recursive: true, force: true });
    rmSync(scratch, { recursive: true, force: true });
  });
  const started = performance.now();
  const { match } = await startLayout(
    t,
    app,
    ['serve'],
    { CHAINBOOK_DATA_DIR: data, TMPDIR: scratch, HOME: data, PORT: '0', OPENAPI_PATH: join(app, 'openapi.yaml') },
    /serving (http:\/\/[^ ]+)/,
  );
  const url = match[1]!;
  const ready = await untilReady(url);
  const readyMs = performance.now() - started;
  t.is(ready.status, 200, await ready.text());
  console.log(`layout: serve until /ready ${readyMs.toFixed(0)} ms`);
  const yaml = await fetch(`${url}/openapi.yaml`);
  t.is(yaml.status, 200);
  t.regex(yaml.headers.get('content-type') ?? '', /^application\/yaml/);
  const text = await yaml.text();
  t.is(text, readFileSync(join(app, 'openapi.yaml'), 'utf8'));
  const json = (await (await fetch(`${url}/openapi.json`)).json()) as { paths: Record<string, unknown> };
  t.deepEqual(json, parse(text));
  t.truthy(json.paths['/openapi.yaml']);
  t.deepEqual(snapshot(app), before, 'nothing under /app changed');
});

/**
 * What production requires of serve besides its database and signer: a certificate, its key and the
 * client CA (infra/wiring/httpConfig.ts), in a folder the service user reads.
 */
let serverTls: { ca: Issued; env: Record<string, string> } | undefined;
function productionTls(): { ca: Issued; env: Record<string, string> } {
  if (serverTls) return serverTls;
  const folder = volume('image-tls');
  const ca = makeCa(folder, 'clients-ca');
  const server = issueServer(folder, ca);
  if (asRoot) for (const name of readdirSync(folder)) chownSync(join(folder, name), SERVICE_UID, SERVICE_UID);
  serverTls = {
    ca,
    env: { TLS_CERT_FILE: server.cert, TLS_KEY_FILE: server.key, TLS_CLIENT_CA_FILE: ca.cert },
  };
  return serverTls;
}
test.after.always(() => {
  if (serverTls) rmSync(join(serverTls.ca.cert, '..'), { recursive: true, force: true });
});

const PRODUCTION_ENV = {
  NODE_ENV: 'production',
  DATABASE_URL: 'postgres://127.0.0.1:1/none',
  SIGNING_BACKEND: 'proxy',
  SIGNING_PROXY_URL: 'http://127.0.0.1:1',
  SIGNING_PROXY_API_KEY: 'k'.repeat(24),
  SIGNING_KID: 'k',
  DELIVERY_LINK_SECRET: 'l'.repeat(32),
  DELIVERY_WRAPPING_KEY: Buffer.alloc(32, 7).toString('base64'),
  PORT: '0',
};

test('with NODE_ENV=production the laid-out serve refuses to start (exit 2) when OPENAPI_PATH names nothing, not YAML, or another document', async (t) => {
  const { app } = await buildLayout();
  const folder = volume('image-openapi');
  t.teardown(() => rmSync(folder, { recursive: true, force: true }));
  const document = readFileSync(join(app, 'openapi.yaml'), 'utf8');
  const edited = join(folder, 'edited.yaml');
  writeFileSync(edited, document.replace('summary: The process is up (liveness)', 'summary: The process is up'));
  const broken = join(folder, 'broken.yaml');
  writeFileSync(broken, 'openapi: [3.1.0\n');
  t.not(readFileSync(edited, 'utf8'), document, 'the edit took');
  const cases: [string | undefined, RegExp][] = [
    [join(folder, 'none.yaml'), /OPENAPI_PATH: \S+none\.yaml does not exist/],
    [
      edited,
      /OPENAPI_PATH: \S+edited\.yaml differs from the document this build validates requests with \(first at \/paths\/~1health\/get\/summary\)/,
    ],
    [broken, /OPENAPI_PATH: \S+broken\.yaml is not a YAML document/],
  ];
  if (!existsSync(DEFAULT_OPENAPI_PATH)) cases.push([undefined, /OPENAPI_PATH: \/app\/openapi\.yaml does not exist/]);
  for (const [path, message] of cases) {
    const result = await runLayout(app, ['serve'], {
      ...PRODUCTION_ENV,
      ...productionTls().env,
      CHAINBOOK_DATA_DIR: folder,
      ...(path === undefined ? {} : { OPENAPI_PATH: path }),
    });
    t.is(result.code, 2, `${path}: ${result.stderr}`);
    t.regex(result.stderr, /refusing to start/);
    t.regex(result.stderr, message);
    t.regex(result.stderr, /chainbook openapi --output/);
    t.notRegex(result.stdout, /serving/);
  }
});

test('with NODE_ENV=production and its own document, the laid-out serve starts over HTTPS with mTLS on PostgreSQL through a laid-out signing proxy and is ready', async (t) => {
  const { app } = await buildLayout();
  const proxyData = volume('image-proxy');
  const apiData = volume('image-api');
  const registry = volume('image-registry');
  const database = await createPostgresDatabase();
  t.teardown(async () => {
    for (const folder of [proxyData, apiData, registry]) rmSync(folder, { recursive: true, force: true });
    await database.drop();
  });
  const key = 'proxy-client-key-0123456789';
  const proxy = await startLayout(
    t,
    app,
    ['signing-proxy', '--host', '127.0.0.1', '--port', '0'],
    {
      CHAINBOOK_DATA_DIR: proxyData,
      CHAINBOOK_SIGNERS: join(registry, 'signers.json'),
      SIGNING_PROXY_CLIENTS: `api:${key}`,
    },
    /signing proxy for (\S+) .* listening on (http:\/\/\S+)/,
  );
  const [, kid, proxyUrl] = proxy.match;
  const started = performance.now();
  const { match } = await startLayout(
    t,
    app,
    ['serve'],
    {
      ...PRODUCTION_ENV,
      ...productionTls().env,
      DATABASE_URL: database.url,
      SIGNING_PROXY_URL: proxyUrl!,
      SIGNING_PROXY_API_KEY: key,
      SIGNING_KID: kid!,
      CHAINBOOK_SIGNERS: join(registry, 'signers.json'),
      CHAINBOOK_DATA_DIR: apiData,
      TMPDIR: apiData,
      OPENAPI_PATH: join(app, 'openapi.yaml'),
    },
    /serving (https:\/\/[^ ]+)/,
  );
  const ca = readFileSync(productionTls().ca.cert);
  const ready = await untilReady(match[1]!, (url) => httpsGet(url, ca));
  t.is(ready.status, 200, await ready.text());
  console.log(`layout, production on PostgreSQL: serve until /ready ${(performance.now() - started).toFixed(0)} ms`);
  // A public route over HTTPS without a client certificate; a non-public one needs one.
  t.is(await (await httpsGet(`${match[1]!}/openapi.yaml`, ca)).text(), readFileSync(join(app, 'openapi.yaml'), 'utf8'));
  const refused = await httpsGet(`${match[1]!}/orders/none`, ca);
  t.is(refused.status, 401);
  t.regex(await refused.text(), /CLIENT_CERTIFICATE_REQUIRED/);
  // The image's HEALTHCHECK, run as Docker would with the container's environment, passes over HTTPS.
  const port = new URL(match[1]!).port;
  const [command, ...args] = healthcheckCommand();
  const health = spawnSync(command!, args, {
    env: { ...process.env, ...productionTls().env, PORT: port },
    encoding: 'utf8',
    timeout: 10_000,
  });
  t.is(health.status, 0, `HEALTHCHECK: ${health.stderr}`);
  const wrongPort = spawnSync(command!, args, {
    env: { ...process.env, ...productionTls().env, PORT: '1' },
    encoding: 'utf8',
    timeout: 10_000,
  });
  t.is(wrongPort.status, 1, 'the HEALTHCHECK fails where nothing answers');
});

/** The runtime stage's HEALTHCHECK CMD, in exec form. */
function healthcheckCommand(): string[] {
  const match = /^HEALTHCHECK [^\n]*\\\n\s*CMD (\[.*\])$/m.exec(dockerfileText);
  if (!match) throw new Error('the Dockerfile has no HEALTHCHECK CMD in exec form');
  return JSON.parse(match[1]!) as string[];
}
