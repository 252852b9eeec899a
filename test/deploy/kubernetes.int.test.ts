/**
 * The Kubernetes manifests (deploy/k8s/): every overlay renders with `kubectl kustomize`, every
 * object it renders passes the Kubernetes API schema of its kind (kubernetes-models, generated from
 * the Kubernetes OpenAPI document), and the objects say what the runbooks ask: three replicas with
 * /health and /ready probes, a locked-down security context, a deny-all network policy, secrets
 * referenced and never inlined, the export and nightly audit-verify jobs; the signing proxy, the relays,
 * the indexer and the witness under the same security context; every container runs the image as its
 * Dockerfile builds it (its CMD's `node bin/chainbook.js`, a command the CLI has, OPENAPI_PATH left at
 * the image's /app/openapi.yaml). Without kubectl the base and component files are checked one by one
 * instead of the rendered overlays, saying so.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { CronJob } from 'kubernetes-models/batch/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Namespace, PersistentVolumeClaim, Service, ServiceAccount } from 'kubernetes-models/v1';
import { DockerfileParser } from 'dockerfile-ast';
import { DEFAULT_OPENAPI_PATH } from '../../infra/entrypoints/http/openApiFile.ts';
import { runCli } from '../helpers/cli.ts';
import { issue, makeCa } from '../helpers/certificates.ts';
import { ConfigError } from '../../infra/wiring/config.ts';
import { loadServeConfig } from '../../infra/wiring/httpConfig.ts';

const ROOT = join(process.cwd(), 'deploy', 'k8s');

/** The runtime stage of the Dockerfile: its user, CMD and environment. */
function dockerRuntime(): { user: number; cmd: string[]; env: Record<string, string> } {
  const instructions = DockerfileParser.parse(
    readFileSync(join(process.cwd(), 'Dockerfile'), 'utf8'),
  ).getInstructions();
  const lastFrom = instructions.findLastIndex((instruction) => instruction.getKeyword() === 'FROM');
  const runtime = instructions.slice(lastFrom + 1);
  const argument = (keyword: string) =>
    runtime.find((instruction) => instruction.getKeyword() === keyword)?.getArgumentsContent() ?? '';
  const env: Record<string, string> = {};
  for (const instruction of runtime.filter((item) => item.getKeyword() === 'ENV'))
    for (const property of (
      instruction as unknown as { getProperties(): { getName(): string; getValue(): string }[] }
    ).getProperties())
      env[property.getName()] = property.getValue();
  return { user: Number(argument('USER').split(':')[0]), cmd: JSON.parse(argument('CMD')) as string[], env };
}
const OVERLAYS = readdirSync(join(ROOT, 'overlays')).sort();

interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

/** The model of each kind the manifests may hold; an object of any other kind fails the test. */
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'apps/v1/Deployment': Deployment,
  'batch/v1/CronJob': CronJob,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'v1/ConfigMap': ConfigMap,
  'v1/Namespace': Namespace,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
};

const kubectlFound = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;
if (!kubectlFound)
  console.log('kubectl not found: the overlays are not rendered; the base files are checked one by one');

function parse(text: string): KubeObject[] {
  return parseAllDocuments(text)
    .map((document) => document.toJS() as KubeObject | null)
    .filter((object): object is KubeObject => object !== null);
}

const rendered = new Map<string, KubeObject[]>();

function render(overlay: string): KubeObject[] {
  const cached = rendered.get(overlay);
  if (cached) return structuredClone(cached);
  const result = spawnSync('kubectl', ['kustomize', join(ROOT, 'overlays', overlay)], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (result.status !== 0) throw new Error(`kubectl kustomize ${overlay}: ${result.stderr}`);
  rendered.set(overlay, parse(result.stdout));
  return render(overlay);
}

const FOLDERS = ['base', ...readdirSync(join(ROOT, 'components')).map((name) => join('components', name))];

function baseFiles(): KubeObject[] {
  return FOLDERS.flatMap((folder) =>
    readdirSync(join(ROOT, folder))
      .filter((name) => name.endsWith('.yaml') && name !== 'kustomization.yaml')
      .flatMap((name) => parse(readFileSync(join(ROOT, folder, name), 'utf8'))),
  );
}

/** Every workload, and the Secrets its containers read their settings from (each only its own). */
const WORKLOAD_SECRETS: Readonly<Record<string, readonly string[]>> = {
  'chainbook-api': ['chainbook-env'],
  'chainbook-export': ['chainbook-env'],
  'chainbook-exporter': ['chainbook-env'],
  'chainbook-audit-verify': ['chainbook-env'],
  'chainbook-signing-proxy': ['chainbook-signing-proxy-env'],
  'chainbook-relay-kafka': ['chainbook-env'],
  'chainbook-relay-eventstore': ['chainbook-env'],
  'chainbook-indexer': ['chainbook-indexer-env'],
  'chainbook-witness': [],
};

/** Every rendered overlay, or the base alone without kubectl. */
const SETS: readonly (readonly [string, () => KubeObject[]])[] = kubectlFound
  ? OVERLAYS.map((overlay) => [overlay, () => render(overlay)] as const)
  : [['base', baseFiles] as const];

function find(objects: readonly KubeObject[], kind: string, name: string): KubeObject {
  const found = objects.find((object) => object.kind === kind && object.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name}`);
  return found;
}

interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  env?: {
    name: string;
    value?: string;
    valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean } };
  }[];
  ports?: { name?: string; containerPort: number }[];
  livenessProbe?: { httpGet?: { path: string; port: string | number; scheme?: string } };
  readinessProbe?: { httpGet?: { path: string; port: string | number; scheme?: string } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: {
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    privileged?: boolean;
    capabilities?: { drop?: string[] };
  };
}
interface PodSpec {
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
  volumes?: { name: string; persistentVolumeClaim?: { claimName: string }; secret?: { secretName: string } }[];
  automountServiceAccountToken?: boolean;
  containers: Container[];
  initContainers?: Container[];
}

function podOf(object: KubeObject): PodSpec {
  const spec = object['spec'] as Record<string, unknown>;
  if (object.kind === 'CronJob')
    return (spec['jobTemplate'] as { spec: { template: { spec: PodSpec } } }).spec.template.spec;
  return (spec['template'] as { spec: PodSpec }).spec;
}

test('the overlays are one per environment: staging and production', (t) => {
  t.deepEqual(OVERLAYS, ['production', 'staging']);
});

for (const [name, load] of SETS) {
  test(`${name}: every object passes the Kubernetes schema of its kind`, (t) => {
    const objects = load();
    t.true(objects.length >= 10, `${objects.length} objects`);
    for (const object of objects) {
      const Model = MODELS[`${object.apiVersion}/${object.kind}`];
      if (!Model) {
        t.fail(`unexpected ${object.apiVersion} ${object.kind} ${object.metadata.name}`);
        continue;
      }
      t.notThrows(() => new Model(object as never).validate(), `${object.kind} ${object.metadata.name}`);
    }
  });

  test(`${name}: no Secret is inlined; every pod is non-root, read-only, without privilege escalation or capabilities, with resources, and reads secrets from the referenced Secret`, (t) => {
    const objects = load();
    t.false(
      objects.some((object) => object.kind === 'Secret'),
      'Secrets are referenced, never inlined',
    );
    const workloads = objects.filter((object) => object.kind === 'Deployment' || object.kind === 'CronJob');
    // The overlays include the component exporter, which replaces the CronJob chainbook-export.
    t.deepEqual(
      workloads.map((workload) => workload.metadata.name).sort(),
      Object.keys(WORKLOAD_SECRETS)
        .filter((workload) => name === 'base' || workload !== 'chainbook-export')
        .sort(),
    );
    for (const workload of workloads) {
      const pod = podOf(workload);
      t.true(pod.securityContext?.runAsNonRoot, workload.metadata.name);
      t.false(pod.automountServiceAccountToken, workload.metadata.name);
      for (const container of [...pod.containers, ...(pod.initContainers ?? [])]) {
        const where = `${workload.metadata.name}/${container.name}`;
        t.like(container.securityContext, {
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          privileged: false,
          capabilities: { drop: ['ALL'] },
        });
        t.truthy(container.resources?.requests?.['memory'], where);
        t.truthy(container.resources?.limits?.['memory'], where);
        t.deepEqual(
          container.envFrom?.map((source) => source.secretRef?.name).filter(Boolean),
          WORKLOAD_SECRETS[workload.metadata.name],
          where,
        );
        t.true(
          container.volumeMounts?.some((mount) => mount.mountPath === '/tmp'),
          `${where}: /tmp is a volume (read-only root)`,
        );
        // Settings come from the ConfigMaps and the Secrets; env names the process and takes an optional DSN,
        // and any other variable of its own is only ever a Secret's key.
        t.deepEqual(
          container.env?.slice(0, 2),
          [
            { name: 'OTEL_SERVICE_NAME', value: workload.metadata.name },
            {
              name: 'SENTRY_DSN',
              valueFrom: { secretKeyRef: { name: 'chainbook-sentry', key: 'SENTRY_DSN', optional: true } },
            },
          ],
          where,
        );
        for (const variable of container.env?.slice(2) ?? [])
          t.truthy(variable.valueFrom?.secretKeyRef, `${where}: ${variable.name} comes from a Secret`);
        if (workload.kind === 'CronJob')
          t.false(
            container.env?.some((variable) => variable.name.startsWith('ENCRYPTION_MASTER_KEY')),
            `${where}: the jobs get no quarantine key`,
          );
      }
    }
  });

  test(`${name}: the API runs 3 replicas with /health and /ready probes, behind a Service, an HPA from 3 and a PDB`, (t) => {
    const objects = load();
    const api = find(objects, 'Deployment', 'chainbook-api');
    t.is((api['spec'] as { replicas: number }).replicas, 3);
    const [container] = podOf(api).containers;
    t.deepEqual(container?.args, ['node', 'bin/chainbook.js', 'serve']);
    t.like(container?.livenessProbe?.httpGet, { path: '/health', port: 'https', scheme: 'HTTPS' });
    t.like(container?.readinessProbe?.httpGet, { path: '/ready', port: 'https', scheme: 'HTTPS' });
    t.like(find(objects, 'Service', 'chainbook-api')['spec'], {
      selector: { 'app.kubernetes.io/name': 'chainbook-api' },
      ports: [{ name: 'https', targetPort: 'https' }],
    });
    t.like(find(objects, 'HorizontalPodAutoscaler', 'chainbook-api')['spec'], {
      minReplicas: 3,
      scaleTargetRef: { kind: 'Deployment', name: 'chainbook-api' },
    });
    t.like(find(objects, 'PodDisruptionBudget', 'chainbook-api')['spec'], {
      selector: { matchLabels: { 'app.kubernetes.io/name': 'chainbook-api' } },
    });
  });

  test(`${name}: a deny-all network policy, egress only to DNS, PostgreSQL, Redis, Kafka and HTTPS; the jobs export and verify`, (t) => {
    const objects = load();
    t.like(find(objects, 'NetworkPolicy', 'deny-all')['spec'], { podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    t.false('ingress' in (find(objects, 'NetworkPolicy', 'deny-all')['spec'] as object));
    const egress = find(objects, 'NetworkPolicy', 'chainbook-egress')['spec'] as {
      egress: { ports: { port: number }[] }[];
    };
    t.deepEqual(
      egress.egress.flatMap((rule) => rule.ports.map((port) => port.port)).sort((a, b) => a - b),
      [53, 53, 443, 5432, 6379, 8443, 9092],
    );
    if (name === 'base') {
      const exportJob = podOf(find(objects, 'CronJob', 'chainbook-export'));
      t.deepEqual(exportJob.containers[0]?.args?.slice(0, 3), ['node', 'bin/chainbook.js', 'export']);
    }
    const exporter = podOf(find(objects, 'Deployment', 'chainbook-exporter'));
    t.deepEqual(exporter.containers[0]?.args?.slice(0, 5), ['node', 'bin/chainbook.js', 'export', '--every', '5m']);
    const verify = podOf(find(objects, 'CronJob', 'chainbook-audit-verify'));
    t.deepEqual(verify.initContainers?.[0]?.args?.slice(2, 3), ['audit-verify']);
    t.true(verify.containers[0]?.args?.includes('--archive'));
    t.true(verify.containers[0]?.args?.includes('--compare-database'));
    // Every pod carries the label the egress policy selects.
    for (const kind of ['Deployment', 'CronJob']) {
      for (const workload of objects.filter((object) => object.kind === kind)) {
        const template =
          kind === 'CronJob'
            ? (workload['spec'] as { jobTemplate: { spec: { template: { metadata: { labels: object } } } } })
                .jobTemplate.spec.template
            : (workload['spec'] as { template: { metadata: { labels: object } } }).template;
        if (name !== 'base')
          t.like(template.metadata.labels, { 'app.kubernetes.io/part-of': 'chainbook' }, workload.metadata.name);
      }
    }
  });

  test(`${name}: the signing proxy (TLS, 2 replicas, its own Secret and Service), the relays, the indexer and the witness run what the CLI has`, (t) => {
    const objects = load();
    const proxy = find(objects, 'Deployment', 'chainbook-signing-proxy');
    const [proxyContainer] = podOf(proxy).containers;
    t.is((proxy['spec'] as { replicas: number }).replicas, 2);
    t.deepEqual(proxyContainer?.args?.slice(0, 3), ['node', 'bin/chainbook.js', 'signing-proxy']);
    t.true(proxyContainer?.args?.includes('--tls-cert'));
    t.like(proxyContainer?.livenessProbe, { httpGet: { path: '/health', scheme: 'HTTPS' } });
    t.like(proxyContainer?.readinessProbe, { httpGet: { path: '/health', scheme: 'HTTPS' } });
    t.like(find(objects, 'Service', 'chainbook-signing-proxy')['spec'], {
      selector: { 'app.kubernetes.io/name': 'chainbook-signing-proxy' },
      ports: [{ port: 8443 }],
    });
    t.like(find(objects, 'NetworkPolicy', 'chainbook-signing-proxy-ingress')['spec'], {
      ingress: [{ ports: [{ port: 8443 }] }],
    });
    const argsOf = (workload: string) => podOf(find(objects, 'Deployment', workload)).containers[0]?.args;
    t.deepEqual(argsOf('chainbook-relay-kafka'), ['node', 'bin/chainbook.js', 'relay', 'kafka']);
    t.deepEqual(argsOf('chainbook-relay-eventstore'), ['node', 'bin/chainbook.js', 'relay', 'eventstore']);
    t.deepEqual(argsOf('chainbook-indexer')?.slice(2, 6), [
      'index',
      '--from-kafka',
      '--index-database-url',
      '$(INDEX_DATABASE_URL)',
    ]);
    for (const single of [
      'chainbook-relay-kafka',
      'chainbook-relay-eventstore',
      'chainbook-indexer',
      'chainbook-witness',
    ])
      t.like(find(objects, 'Deployment', single)['spec'], { replicas: 1, strategy: { type: 'Recreate' } }, single);
    // The witness keeps its state on a volume of its own, at WITNESS_STATE_DIR, and its key read-only.
    const witness = podOf(find(objects, 'Deployment', 'chainbook-witness'));
    const witnessConfig = find(objects, 'ConfigMap', 'chainbook-witness-config')['data'] as Record<string, string>;
    t.true(witnessConfig['WITNESS_STATE_DIR']!.startsWith('/var/lib/chainbook/'));
    t.deepEqual(witness.volumes?.find((volume) => volume.name === 'data')?.persistentVolumeClaim, {
      claimName: 'chainbook-witness-state',
    });
    find(objects, 'PersistentVolumeClaim', 'chainbook-witness-state');
    const keyMount = witness.containers[0]?.volumeMounts?.find((mount) => mount.name === 'key');
    t.true(keyMount?.readOnly);
    t.true(witnessConfig['WITNESS_KEY_FILE']!.startsWith(`${keyMount!.mountPath}/`));
    t.like(witness.containers[0]?.livenessProbe, { httpGet: { path: '/health' } });
  });

  test(`${name}: every container runs the image as the Dockerfile builds it: its CMD's node bin/chainbook.js and a command the CLI has, OPENAPI_PATH at /app/openapi.yaml, the data folder a volume`, async (t) => {
    const objects = load();
    const help = await runCli(['--help']);
    const runtime = dockerRuntime();
    const images = new Set<string | undefined>();
    for (const workload of objects.filter((object) => object.kind === 'Deployment' || object.kind === 'CronJob')) {
      const pod = podOf(workload);
      t.is(pod.securityContext?.runAsUser, runtime.user, workload.metadata.name);
      for (const container of [...pod.containers, ...(pod.initContainers ?? [])]) {
        const where = `${workload.metadata.name}/${container.name}`;
        t.regex(
          container.image ?? '',
          name === 'base' ? /^chainbook$/ : /^registry\.example\.com\/chainbook:\d+\.\d+\.\d+$/,
          where,
        );
        images.add(container.image);
        t.is(container.command, undefined, `${where}: the image has no ENTRYPOINT; args are the whole command line`);
        t.deepEqual(container.args?.slice(0, 2), runtime.cmd.slice(0, 2), where);
        t.regex(
          help.stdout,
          new RegExp(`^  ${container.args?.[2]} `, 'm'),
          `${where}: chainbook ${container.args?.[2]}`,
        );
        t.true(
          container.volumeMounts?.some((mount) => mount.mountPath === runtime.env['CHAINBOOK_DATA_DIR']) ||
            workload.kind === 'CronJob',
          `${where}: the data folder is a volume`,
        );
      }
    }
    t.is(images.size, 1, `one image, one tag: ${[...images].join(', ')}`);
    for (const config of objects.filter((object) => object.kind === 'ConfigMap')) {
      const data = (config['data'] ?? {}) as Record<string, string>;
      t.is(data['OPENAPI_PATH'] ?? runtime.env['OPENAPI_PATH'], DEFAULT_OPENAPI_PATH, config.metadata.name);
      if ('CHAINBOOK_DATA_DIR' in data) t.is(data['CHAINBOOK_DATA_DIR'], runtime.env['CHAINBOOK_DATA_DIR']!);
    }
  });

  test(`${name}: every process that serves METRICS_PORT has a containerPort for it, scrape annotations on it, and probes on a port it declares`, (t) => {
    const objects = load();
    const configMaps = new Map(
      objects
        .filter((object) => object.kind === 'ConfigMap')
        .map((object) => [object.metadata.name, (object['data'] ?? {}) as Record<string, string>]),
    );
    // The commands that open METRICS_PORT (infra/entrypoints/cli/metricsPort.ts): export only with --every.
    const servesMetrics = (args: readonly string[]) =>
      ['relay', 'index', 'witness', 'signing-proxy'].includes(args[2] ?? '') ||
      (args[2] === 'export' && args.includes('--every'));
    let checked = 0;
    for (const workload of objects.filter((object) => object.kind === 'Deployment')) {
      const template = (workload['spec'] as { template: { metadata: { annotations?: Record<string, string> } } })
        .template;
      for (const container of podOf(workload).containers) {
        const where = `${workload.metadata.name}/${container.name}`;
        const environment: Record<string, string> = {};
        for (const source of container.envFrom ?? [])
          Object.assign(environment, configMaps.get(source.configMapRef?.name ?? '') ?? {});
        const declared = new Map((container.ports ?? []).map((port) => [port.name, port.containerPort]));
        for (const probe of [container.livenessProbe, container.readinessProbe]) {
          const port = probe?.httpGet?.port;
          t.true(typeof port === 'number' || declared.has(port), `${where}: probe port ${port} is declared`);
        }
        if (!servesMetrics(container.args ?? [])) continue;
        checked += 1;
        const metricsPort = Number(environment['METRICS_PORT']);
        t.true(metricsPort > 0, `${where}: METRICS_PORT set`);
        t.is(environment['METRICS_HOST'], '0.0.0.0', `${where}: METRICS_HOST reachable from outside the pod`);
        t.is(declared.get('metrics'), metricsPort, `${where}: containerPort metrics`);
        t.like(template.metadata.annotations, {
          'prometheus.io/scrape': 'true',
          'prometheus.io/port': String(metricsPort),
          'prometheus.io/path': '/metrics',
        });
        // The metrics listener answers only /metrics: a probe there, unless the process has /health of its own.
        for (const probe of [container.livenessProbe, container.readinessProbe])
          t.true(
            probe?.httpGet?.path === '/health' ||
              (probe?.httpGet?.path === '/metrics' && probe.httpGet.port === 'metrics'),
            `${where}: ${JSON.stringify(probe?.httpGet)}`,
          );
      }
    }
    // export --every, two relays, the indexer, the witness, the signing proxy.
    t.is(checked, 6);
  });

  if (name !== 'base') {
    test(`${name}: the API serves HTTPS with mTLS from the Secret chainbook-api-tls, and its environment passes serve's start-up checks`, (t) => {
      const objects = load();
      const api = find(objects, 'Deployment', 'chainbook-api');
      const pod = podOf(api);
      const [container] = pod.containers;
      const config = find(objects, 'ConfigMap', 'chainbook-config')['data'] as Record<string, string>;
      const tlsVolume = pod.volumes?.find((volume) => volume.secret?.secretName === 'chainbook-api-tls');
      const mount = container?.volumeMounts?.find((volumeMount) => volumeMount.name === tlsVolume?.name);
      t.true(mount?.readOnly);
      for (const variable of ['TLS_CERT_FILE', 'TLS_KEY_FILE', 'TLS_CLIENT_CA_FILE'])
        t.true(config[variable]?.startsWith(`${mount!.mountPath}/`), `${variable}: ${config[variable]}`);
      t.true('MTLS_ROLE_MAP' in config);
      t.is(config['DEV_SKIP_MTLS'], undefined);
      t.like(api['spec'], { template: { metadata: { annotations: { 'prometheus.io/scheme': 'https' } } } });

      // The rendered environment through loadServeConfig, the Secret's files made with openssl where the
      // volume puts them: no TLS problem. Without the TLS variables, production refuses.
      const folder = mkdtempSync(join(tmpdir(), 'chainbook-k8s-tls-'));
      try {
        const ca = makeCa(folder, 'clients-ca');
        const server = issue(folder, ca, 'server', { commonName: 'chainbook-api', usage: 'serverAuth' });
        copyFileSync(server.cert, join(folder, 'tls.crt'));
        copyFileSync(server.key, join(folder, 'tls.key'));
        copyFileSync(ca.cert, join(folder, 'ca.crt'));
        const environment: Record<string, string> = {};
        for (const [key, value] of Object.entries(config))
          environment[key] = value.startsWith(`${mount!.mountPath}/`)
            ? join(folder, value.slice(mount!.mountPath.length + 1))
            : value;
        // The Secret chainbook-env's one required entry.
        environment['DATABASE_URL'] = 'postgres://chainbook@db.internal:5432/chainbook';
        const tlsProblems = (env: Record<string, string>) => {
          try {
            loadServeConfig(env);
            return [];
          } catch (error) {
            if (!(error instanceof ConfigError)) throw error;
            return (error.details['problems'] as string[]).filter((problem) => /TLS|HOST|DATABASE_URL/.test(problem));
          }
        };
        t.deepEqual(tlsProblems(environment), []);
        const withoutTls = { ...environment };
        delete withoutTls['TLS_CLIENT_CA_FILE'];
        delete withoutTls['MTLS_ROLE_MAP'];
        t.true(tlsProblems(withoutTls).some((problem) => problem.includes('required when NODE_ENV=production')));
      } finally {
        rmSync(folder, { recursive: true, force: true });
      }
    });
  }

  test(`${name}: the API holds content for moderators: the quarantine settings, and the master key from a Secret`, (t) => {
    const objects = load();
    const quarantine = find(objects, 'ConfigMap', 'chainbook-quarantine')['data'] as Record<string, string>;
    t.like(quarantine, {
      QUARANTINE_ENABLED: 'true',
      QUARANTINE_EXPIRY_HOURS: '72',
      QUARANTINE_LINK_TTL_SECONDS: '300',
    });
    if (name !== 'base') t.is(quarantine['QUARANTINE_S3_BUCKET'], `illuvrse-quarantine-${name}`);
    for (const configMap of objects.filter((object) => object.kind === 'ConfigMap'))
      t.false(
        Object.keys((configMap['data'] ?? {}) as object).some((key) => /MASTER_KEY|SECRET|PASSWORD/.test(key)),
        `${configMap.metadata.name} holds no secret`,
      );
    const [api] = podOf(find(objects, 'Deployment', 'chainbook-api')).containers;
    t.deepEqual(
      api?.envFrom?.map((source) => source.configMapRef?.name ?? source.secretRef?.name),
      ['chainbook-config', 'chainbook-quarantine', 'chainbook-env'],
    );
    t.deepEqual(api?.env?.slice(2), [
      {
        name: 'ENCRYPTION_MASTER_KEY',
        valueFrom: { secretKeyRef: { name: 'chainbook-quarantine-key', key: 'encryption-master-key' } },
      },
      {
        name: 'ENCRYPTION_MASTER_KEY_PREVIOUS',
        valueFrom: {
          secretKeyRef: { name: 'chainbook-quarantine-key', key: 'encryption-master-key-previous', optional: true },
        },
      },
    ]);
    // The jobs load the configuration too: with QUARANTINE_ENABLED and no key they would refuse to start.
    for (const job of objects.filter((object) => object.kind === 'CronJob'))
      for (const container of [...podOf(job).containers, ...(podOf(job).initContainers ?? [])])
        t.false(
          container.envFrom?.some((source) => source.configMapRef?.name === 'chainbook-quarantine') ?? false,
          `${job.metadata.name}/${container.name}`,
        );
  });

  if (name !== 'base') {
    test(`${name}: everything is in the namespace illuvrse-kernel-${name}`, (t) => {
      const objects = load();
      const namespace = `illuvrse-kernel-${name}`;
      find(objects, 'Namespace', namespace);
      for (const object of objects.filter((object) => object.kind !== 'Namespace'))
        t.is(object.metadata.namespace, namespace, `${object.kind} ${object.metadata.name}`);
      const config = find(objects, 'ConfigMap', 'chainbook-config')['data'] as Record<string, string>;
      t.like(config, { NODE_ENV: 'production', REQUIRE_KMS: 'true', ARCHIVE_ENV: name });
    });
  }
}
