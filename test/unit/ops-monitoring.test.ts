/**
 * The Grafana dashboard and Prometheus alert rules in ops/ read only metrics tidal exports, and
 * the dashboard shows every metric it exports: a renamed or removed metric fails here instead of
 * leaving an empty panel or an alert that can never fire, and a new metric needs a panel.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { Metrics } from '../../src/metrics.js';

const OPS = fileURLToPath(new URL('../../ops/', import.meta.url));
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, read as text
const DATASOURCE_VARIABLE = '${datasource}';

interface Target {
  refId?: string;
  expr?: string;
}
interface Panel {
  id?: number;
  type?: string;
  title?: string;
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
}
interface TemplateVariable {
  name?: string;
  type?: string;
  query?: string | { query?: string };
  definition?: string;
}
interface Dashboard {
  title?: string;
  uid?: string;
  schemaVersion?: number;
  panels?: Panel[];
  templating?: { list?: TemplateVariable[] };
}
interface AlertRule {
  alert?: string;
  expr?: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleFile {
  groups?: { name?: string; rules?: AlertRule[] }[];
}

/** The tidal metric names a PromQL expression reads. */
function metricNames(expr: string): string[] {
  return [...new Set(expr.match(/\btidal_[a-z_]+\b/g) ?? [])];
}

/** Names an expression reads that `exported` does not hold. */
function unexportedNames(exprs: string[], exported: Set<string>): string[] {
  return [...new Set(exprs.flatMap(metricNames))].filter((name) => !exported.has(name)).sort();
}

/** Every series name a registry's metrics are scraped under, with the name each belongs to:
 *  a histogram is read as `_bucket`, `_sum` and `_count`, a summary by its own name too. */
async function exportedSeries(metrics: Metrics): Promise<Map<string, string>> {
  const series = new Map<string, string>();
  for (const metric of await metrics.registry.getMetricsAsJSON()) {
    // prom-client's types declare a numeric enum; at run time the type is its name.
    const type = String(metric.type);
    const suffixes =
      type === 'histogram'
        ? ['_bucket', '_sum', '_count']
        : type === 'summary'
          ? ['', '_sum', '_count']
          : [''];
    for (const suffix of suffixes) series.set(`${metric.name}${suffix}`, metric.name);
  }
  return series;
}

/** A template variable's PromQL: its query (a string, or an object since Grafana 10) and the
 *  definition Grafana shows for it. */
function variableQuery(variable: TemplateVariable): string[] {
  const query = typeof variable.query === 'string' ? variable.query : variable.query?.query;
  return [query, variable.definition].filter((text): text is string => typeof text === 'string');
}

let dashboard: Dashboard;
let rules: AlertRule[];
let series: Map<string, string>;

beforeAll(async () => {
  dashboard = JSON.parse(await readFile(`${OPS}grafana/tidal-dashboard.json`, 'utf8'));
  const ruleFile = parse(await readFile(`${OPS}prometheus/tidal-alerts.yml`, 'utf8')) as RuleFile;
  rules = (ruleFile.groups ?? []).flatMap((group) => group.rules ?? []);
  series = await exportedSeries(new Metrics());
});

const panels = () => dashboard.panels ?? [];
const panelExprs = () =>
  panels().flatMap((panel) => (panel.targets ?? []).map((target) => target.expr ?? ''));
const variableExprs = () => (dashboard.templating?.list ?? []).flatMap(variableQuery);
const ruleExprs = () => rules.map((rule) => rule.expr ?? '');

describe('metric names in PromQL', () => {
  it('finds each tidal metric an expression reads, once, and nothing else', () => {
    expect(
      metricNames(
        'sum by (table) (rate(tidal_backfill_batch_duration_seconds_sum{table=~"$table"}[5m])) / tidal_backfill_rows_done{job="x"} + tidal_backfill_rows_done',
      ),
    ).toEqual(['tidal_backfill_batch_duration_seconds_sum', 'tidal_backfill_rows_done']);
    expect(metricNames('up{job="node"}')).toEqual([]);
  });

  it('reports a name the registry does not export', () => {
    const exported = new Set(series.keys());
    expect(
      unexportedNames(
        [
          'tidal_backfill_rows_done / tidal_backfill_rows_expected',
          'rate(tidal_lock_retries_total[5m])',
        ],
        exported,
      ),
    ).toEqual(['tidal_backfill_rows_expected']);
  });

  it('knows a histogram by its _bucket, _sum and _count series, not its bare name', () => {
    expect(series.get('tidal_backfill_batch_duration_seconds_bucket')).toBe(
      'tidal_backfill_batch_duration_seconds',
    );
    expect(series.has('tidal_backfill_batch_duration_seconds_count')).toBe(true);
    expect(series.has('tidal_backfill_batch_duration_seconds')).toBe(false);
    expect(series.get('tidal_backfill_rows_done')).toBe('tidal_backfill_rows_done');
  });
});

describe('ops/grafana/tidal-dashboard.json', () => {
  it('is a dashboard whose every panel has a title and a PromQL query, each id once', () => {
    expect(dashboard.title).toMatch(/tidal/);
    expect(dashboard.uid).toBeTruthy();
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(panels().length).toBeGreaterThan(0);
    for (const panel of panels()) {
      expect(panel.title, `panel ${panel.id}`).toBeTruthy();
      expect(['timeseries', 'stat', 'table']).toContain(panel.type);
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets ?? [])
        expect(target.expr?.trim(), panel.title).toBeTruthy();
      const refIds = (panel.targets ?? []).map((target) => target.refId);
      expect(new Set(refIds).size, panel.title).toBe(refIds.length);
    }
    const ids = panels().map((panel) => panel.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('queries the Prometheus data source chosen in its datasource variable', () => {
    const variables = dashboard.templating?.list ?? [];
    expect(variables.find((variable) => variable.name === 'datasource')).toMatchObject({
      type: 'datasource',
      query: 'prometheus',
    });
    for (const panel of panels()) {
      expect(panel.datasource, panel.title).toEqual({
        type: 'prometheus',
        uid: DATASOURCE_VARIABLE,
      });
    }
  });

  it('has a table variable listing the tables a backfill reports', () => {
    const table = (dashboard.templating?.list ?? []).find((variable) => variable.name === 'table');
    expect(table?.type).toBe('query');
    expect(variableQuery(table ?? {})).toContain('label_values(tidal_backfill_rows_total, table)');
  });

  it('reads only metrics tidal exports', () => {
    const exported = new Set(series.keys());
    expect(unexportedNames([...panelExprs(), ...variableExprs()], exported)).toEqual([]);
  });

  it('shows every metric tidal exports in some panel', () => {
    const shown = new Set(
      panelExprs()
        .flatMap(metricNames)
        .map((name) => series.get(name)),
    );
    const missing = [...new Set(series.values())].filter((metric) => !shown.has(metric));
    expect(missing).toEqual([]);
  });
});

describe('ops/prometheus/tidal-alerts.yml', () => {
  it('is a rule file whose every rule is an alert with severity, summary and description', () => {
    expect(rules.length).toBeGreaterThan(0);
    for (const rule of rules) {
      expect(rule.alert, JSON.stringify(rule)).toMatch(/^Tidal[A-Za-z]+$/);
      expect(rule.expr?.trim(), rule.alert).toBeTruthy();
      expect(['critical', 'warning', 'info'], rule.alert).toContain(rule.labels?.severity);
      expect(rule.annotations?.summary, rule.alert).toBeTruthy();
      expect(rule.annotations?.description, rule.alert).toBeTruthy();
    }
    const names = rules.map((rule) => rule.alert);
    expect(new Set(names).size).toBe(names.length);
  });

  it('names in each summary what the alert is about, from its labels', () => {
    for (const rule of rules) expect(rule.annotations?.summary, rule.alert).toMatch(/\$labels\./);
  });

  it('reads only metrics tidal exports', () => {
    const exported = new Set(series.keys());
    expect(ruleExprs().flatMap(metricNames).length).toBeGreaterThan(0);
    expect(unexportedNames(ruleExprs(), exported)).toEqual([]);
  });

  it('alerts on a throttled backfill, a stalled one, lock retries and a stuck phase', () => {
    const read = (name: string) => ruleExprs().some((expr) => metricNames(expr).includes(name));
    expect(read('tidal_backfill_throttled')).toBe(true);
    expect(read('tidal_backfill_rows_done')).toBe(true);
    expect(read('tidal_lock_retries_total')).toBe(true);
    expect(read('tidal_phase')).toBe(true);
  });
});
