/**
 * The Kubernetes manifests (deploy/k8s/): every overlay renders with `kubectl kustomize`, every
 * object it renders passes the Kubernetes API schema of its kind (kubernetes-models, generated from
 * the Kubernetes OpenAPI document), and the objects say what the runbooks ask: three replicas with
 * /health and /ready probes, a locked-down security context, a deny-all network policy, secrets
 * referenced and never inlined, the export and nightly audit-verify jobs. Without kubectl the base
 * files are checked one by one instead of the rendered overlays, saying so.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { CronJob } from 'kubernetes-models/batch/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Namespace, Service, ServiceAccount } from 'kubernetes-models/v1';

const ROOT = join(process.cwd(), 'deploy', 'k8s');
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

function baseFiles(): KubeObject[] {
  return readdirSync(join(ROOT, 'base'))
    .filter((name) => name.endsWith('.yaml') && name !== 'kustomization.yaml')
    .flatMap((name) => parse(readFileSync(join(ROOT, 'base', name), 'utf8')));
}

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
  args?: string[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  env?: {
    name: string;
    value?: string;
    valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean } };
  }[];
  livenessProbe?: { httpGet?: { path: string } };
  readinessProbe?: { httpGet?: { path: string } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: {
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    privileged?: boolean;
    capabilities?: { drop?: string[] };
  };
}
interface PodSpec {
  securityContext?: { runAsNonRoot?: boolean };
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
    t.is(workloads.length, 3);
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
          ['chainbook-env'],
          where,
        );
        // Settings come from the ConfigMaps and the Secrets: a variable of its own is only ever a Secret's key.
        for (const variable of container.env ?? [])
          t.truthy(variable.valueFrom?.secretKeyRef, `${where}: ${variable.name} comes from a Secret`);
        if (workload.kind === 'CronJob') t.is(container.env, undefined, `${where}: the jobs get no quarantine key`);
      }
    }
  });

  test(`${name}: the API runs 3 replicas with /health and /ready probes, behind a Service, an HPA from 3 and a PDB`, (t) => {
    const objects = load();
    const api = find(objects, 'Deployment', 'chainbook-api');
    t.is((api['spec'] as { replicas: number }).replicas, 3);
    const [container] = podOf(api).containers;
    t.deepEqual(container?.args, ['node', 'bin/chainbook.js', 'serve']);
    t.is(container?.livenessProbe?.httpGet?.path, '/health');
    t.is(container?.readinessProbe?.httpGet?.path, '/ready');
    t.like(find(objects, 'Service', 'chainbook-api')['spec'], {
      selector: { 'app.kubernetes.io/name': 'chainbook-api' },
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
    const exportJob = podOf(find(objects, 'CronJob', 'chainbook-export'));
    t.deepEqual(exportJob.containers[0]?.args?.slice(0, 3), ['node', 'bin/chainbook.js', 'export']);
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
    t.deepEqual(api?.env, [
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
