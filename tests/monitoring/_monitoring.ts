/**
 * Helpers shared by the monitoring tests: where the files are, the PromQL
 * they contain, the metric names an expression reads, and promtool.
 */

import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import yaml from "js-yaml";

export const root: string = fileURLToPath(new URL("../../", import.meta.url));
export const monitoring: string = join(root, "monitoring");
export const dashboardsDir: string = join(monitoring, "grafana", "dashboards");
export const runbooksDir: string = join(monitoring, "runbooks");
export const alertsFile: string = join(monitoring, "prometheus", "alerts.yaml");
export const alertTestsFile: string = join(monitoring, "prometheus", "alerts.test.yaml");

/** Where a PromQL expression was found, for error messages. */
export interface Expression {
  readonly source: string;
  readonly expr: string;
}

export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export function readYaml(path: string): unknown {
  return yaml.load(readFileSync(path, "utf8"));
}

export function alertRules(): AlertRule[] {
  const doc = readYaml(alertsFile) as { groups: { rules: AlertRule[] }[] };
  return doc.groups.flatMap((g) => g.rules);
}

export interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type?: string; uid?: string };
  targets?: { expr?: string; refId?: string; datasource?: { uid?: string } }[];
  panels?: Panel[];
}

export interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query: unknown; definition?: string }[] };
}

export const dashboardFiles: readonly string[] = [
  "stream-processor-overview.json",
  "kafka-metrics.json",
  "state-backend.json",
  "slo-dashboard.json",
];

export function readDashboard(file: string): Dashboard {
  return JSON.parse(readFileSync(join(dashboardsDir, file), "utf8")) as Dashboard;
}

/** All panels, rows' nested panels included. */
export function allPanels(dashboard: Dashboard): Panel[] {
  return dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

/** Grafana variables replaced by values PromQL accepts, as Grafana does before querying. */
export function substituteVariables(expr: string): string {
  return expr
    .replaceAll(/\$\{?__(rate_interval|interval|range)\}?/g, (_, name: string) => (name === "range" ? "1h" : "1m"))
    .replaceAll(/\$\{?\w+\}?/g, ".*");
}

/** The PromQL queries of the ```promql blocks of a Markdown file: one per unindented line, indented lines continue it. */
export function markdownQueries(markdown: string): string[] {
  const queries: string[] = [];
  for (const block of markdown.matchAll(/```promql\n([\s\S]*?)```/g)) {
    for (const line of block[1]!.split("\n")) {
      if (line.trim() === "" || line.trimStart().startsWith("#")) continue;
      if (/^\s/.test(line) && queries.length > 0) queries[queries.length - 1] += ` ${line.trim()}`;
      else queries.push(line.trim());
    }
  }
  return queries;
}

/** Every PromQL expression in the dashboards (panels and variable queries), the alerts and the runbooks. */
export function allExpressions(): Expression[] {
  const out: Expression[] = [];
  for (const file of dashboardFiles) {
    const dashboard = readDashboard(file);
    for (const panel of allPanels(dashboard)) {
      for (const target of panel.targets ?? []) {
        if (target.expr !== undefined) {
          out.push({
            source: `${file} panel ${panel.id} "${panel.title}" ${target.refId}`,
            expr: substituteVariables(target.expr),
          });
        }
      }
    }
    for (const variable of dashboard.templating.list) {
      const match = variable.definition?.match(/^label_values\((.+),\s*\w+\)$/);
      if (match) out.push({ source: `${file} variable ${variable.name}`, expr: match[1]! });
    }
  }
  for (const rule of alertRules()) out.push({ source: `alerts.yaml ${rule.alert}`, expr: rule.expr });
  for (const file of readdirSync(runbooksDir)) {
    for (const query of markdownQueries(readFileSync(join(runbooksDir, file), "utf8"))) {
      out.push({ source: `runbooks/${file}`, expr: query });
    }
  }
  return out;
}

const KEYWORDS = new Set([
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "offset",
  "bool",
  "and",
  "or",
  "unless",
  "inf",
  "nan",
  "atan2",
]);

/**
 * The metric names a PromQL expression selects. A small scanner, not a
 * parser: it drops strings, label matchers, grouping clauses, ranges and
 * numbers, then keeps identifiers that are not functions or keywords.
 */
export function metricNames(expr: string): string[] {
  const rest = expr
    .replaceAll(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replaceAll(/\{[^}]*\}/g, " ")
    .replaceAll(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ")
    .replaceAll(/\[[^\]]*\]/g, " ")
    .replaceAll(/\boffset\s+-?[0-9a-z]+/g, " ")
    .replaceAll(/(?<![\w:])(?:0x[0-9a-f]+|\d+(?:\.\d+)?(?:e[+-]?\d+)?(?:ms|s|m|h|d|w|y)?)(?![\w:])/gi, " ");
  const names = new Set<string>();
  for (const match of rest.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?/g)) {
    const name = match[0].replace(/\s*\($/, "");
    if (match[1] !== undefined || KEYWORDS.has(name.toLowerCase())) continue;
    names.add(name);
  }
  return [...names];
}

/** `name` without the `_bucket`, `_sum` or `_count` suffix of a histogram series, if `histograms` has the base. */
export function familyName(name: string, histograms: ReadonlySet<string>): string {
  const base = name.replace(/_(bucket|sum|count)$/, "");
  return base !== name && histograms.has(base) ? base : name;
}

export interface ProcessResult {
  status: number | null;
  output: string;
}

export function promtool(...args: string[]): ProcessResult {
  const result = spawnSync("promtool", args, { encoding: "utf8", timeout: 60_000 });
  if (result.error) {
    throw new Error(`promtool could not run (install the Debian package "prometheus"): ${result.error.message}`);
  }
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** Runs `promtool check rules` on the expressions written as recording rules into a temporary file. */
export function checkExpressions(expressions: readonly Expression[]): ProcessResult {
  const dir = mkdtempSync(join(tmpdir(), "atomic-metrics-promql-"));
  try {
    const rules = expressions.map((e, i) => ({ record: `check:expression_${i}`, expr: e.expr }));
    const file = join(dir, "expressions.rules.yaml");
    // JSON is YAML: no quoting pitfalls.
    writeFileSync(file, JSON.stringify({ groups: [{ name: "expressions", rules }] }));
    return promtool("check", "rules", file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
