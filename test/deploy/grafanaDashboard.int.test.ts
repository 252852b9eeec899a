/**
 * The Grafana dashboard (deploy/grafana/chainbook.json): well-formed, the runbooks' four views (order
 * funnel, delivery success, audit export status, signing errors), every query parsed by promtool
 * (as recording rules: `promtool check rules` parses each expression) and reading only metrics this
 * code exports (infra/adapters/metrics.ts).
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { metricsRegistry } from '../../infra/adapters/metrics.ts';
import { metricNamesIn } from '../helpers/promql.ts';

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: { refId: string; expr: string }[];
}

const dashboard = JSON.parse(readFileSync(join(process.cwd(), 'deploy', 'grafana', 'chainbook.json'), 'utf8')) as {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: { name: string; type: string }[] };
};
const queryPanels = dashboard.panels.filter((panel) => panel.type !== 'row');
/** Grafana's own variables, as Prometheus would receive them. */
const expressions = queryPanels.flatMap((panel) =>
  (panel.targets ?? []).map((target) => ({
    panel: panel.title,
    expr: target.expr.replaceAll('$__rate_interval', '5m'),
  })),
);

const promtoolFound = spawnSync('promtool', ['--version'], { encoding: 'utf8' }).status === 0;
const withPromtool = promtoolFound ? test : test.skip;

test('the dashboard is well-formed: a uid, unique panel ids, panels inside the 24-column grid, each with a query', (t) => {
  t.is(dashboard.uid, 'chainbook');
  t.truthy(dashboard.title);
  t.true(
    dashboard.templating.list.some((variable) => variable.name === 'datasource' && variable.type === 'datasource'),
  );
  const ids = dashboard.panels.map((panel) => panel.id);
  t.is(new Set(ids).size, ids.length, 'panel ids are unique');
  for (const panel of dashboard.panels) {
    t.true(panel.gridPos.x >= 0 && panel.gridPos.x + panel.gridPos.w <= 24, panel.title);
    t.true(panel.gridPos.h > 0, panel.title);
  }
  for (const panel of queryPanels) {
    t.true((panel.targets ?? []).length > 0, `${panel.title} has a query`);
    const refIds = (panel.targets ?? []).map((target) => target.refId);
    t.is(new Set(refIds).size, refIds.length, `${panel.title}: unique refIds`);
  }
});

test('the dashboard has the runbooks views: order funnel, delivery success, export status, signing errors', (t) => {
  const reads = (metric: string): boolean => expressions.some(({ expr }) => metricNamesIn(expr).includes(metric));
  t.true(reads('marketplace_orders_total'), 'order funnel');
  t.true(reads('marketplace_delivery_latency_seconds'), 'delivery success');
  t.true(
    reads('audit_export_success_total') && reads('archive_export_last_success_timestamp_seconds'),
    'export status',
  );
  t.true(reads('kms_errors_total') && reads('signatures_total'), 'signing errors and signatures per second');
});

test('every metric the dashboard reads is one this code exports', async (t) => {
  const exported = new Set((await metricsRegistry.getMetricsAsJSON()).map((metric) => metric.name));
  const read = new Set(expressions.flatMap(({ expr }) => metricNamesIn(expr)));
  t.true(read.size >= 10, [...read].join(', '));
  for (const name of read) t.true(exported.has(name), `${name} is not exported`);
});

withPromtool('promtool parses every query of the dashboard', (t) => {
  const folder = mkdtempSync(join(tmpdir(), 'dashboard-'));
  t.teardown(() => rmSync(folder, { recursive: true, force: true }));
  const rules = expressions.map(({ expr }, index) => ({ record: `dashboard:query_${index}`, expr }));
  writeFileSync(join(folder, 'dashboard.rules.yml'), stringify({ groups: [{ name: 'dashboard', rules }] }));
  const result = spawnSync('promtool', ['check', 'rules', 'dashboard.rules.yml'], {
    cwd: folder,
    encoding: 'utf8',
    timeout: 60_000,
  });
  t.is(result.status, 0, result.stdout + result.stderr);
  t.regex(result.stdout, new RegExp(`SUCCESS: ${rules.length} rules found`));
});

withPromtool('a query that does not parse is refused by the same check', (t) => {
  const folder = mkdtempSync(join(tmpdir(), 'dashboard-'));
  t.teardown(() => rmSync(folder, { recursive: true, force: true }));
  writeFileSync(
    join(folder, 'broken.rules.yml'),
    stringify({
      groups: [{ name: 'broken', rules: [{ record: 'dashboard:broken', expr: 'sum by (le (rate(x[5m]))' }] }],
    }),
  );
  t.not(spawnSync('promtool', ['check', 'rules', 'broken.rules.yml'], { cwd: folder }).status, 0);
});
