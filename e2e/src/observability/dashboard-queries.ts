// The PromQL of the Grafana dashboards in manifests/dashboards/: every panel target and every
// query variable, with Grafana's template variables replaced by values Prometheus can run.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export interface PanelQuery {
  readonly dashboard: string;
  readonly panel: string;
  readonly refId: string;
  readonly expr: string;
}

export interface VariableQuery {
  readonly dashboard: string;
  readonly variable: string;
  /** `label_values(<selector>, <label>)` or plain PromQL, as written in the dashboard. */
  readonly query: string;
}

export interface Dashboards {
  readonly files: readonly string[];
  readonly panels: readonly PanelQuery[];
  readonly variables: readonly VariableQuery[];
}

interface PanelJson {
  type?: string;
  title?: string;
  targets?: { refId?: string; expr?: string }[];
  panels?: PanelJson[];
}

interface DashboardJson {
  title?: string;
  panels?: PanelJson[];
  templating?: { list?: { type?: string; name?: string; definition?: string; query?: string | { query?: string } }[] };
}

/** Every `*.json` dashboard of the folder; panels nested in collapsed rows included. */
export function loadDashboards(folder: string): Dashboards {
  const files = readdirSync(folder).filter((f) => f.endsWith('.json')).sort();
  const panels: PanelQuery[] = [];
  const variables: VariableQuery[] = [];
  for (const file of files) {
    const json = JSON.parse(readFileSync(join(folder, file), 'utf8')) as DashboardJson;
    const dashboard = `${json.title ?? file} (${file})`;
    const visit = (list: PanelJson[] | undefined): void => {
      for (const panel of list ?? []) {
        for (const target of panel.targets ?? []) {
          if (typeof target.expr !== 'string' || target.expr.trim() === '') throw new Error(`${dashboard}: panel "${panel.title}" has a target without a PromQL expression`);
          panels.push({ dashboard, panel: panel.title ?? '(untitled)', refId: target.refId ?? '?', expr: target.expr });
        }
        visit(panel.panels);
      }
    };
    visit(json.panels);
    for (const variable of json.templating?.list ?? []) {
      if (variable.type !== 'query') continue;
      const query = typeof variable.query === 'string' ? variable.query : (variable.query?.query ?? variable.definition ?? '');
      variables.push({ dashboard, variable: variable.name ?? '?', query });
    }
  }
  return { files, panels, variables };
}

/** Grafana's built-ins as the test sets them; dashboard variables not listed become `.*`. */
export interface TemplateValues {
  readonly rateInterval: string;
  readonly interval: string;
  readonly range: string;
  readonly variables?: Readonly<Record<string, string>>;
}

/**
 * Replaces `$name`, `${name}`, `${name:format}` and `[[name]]`. Throws on a variable that is
 * neither a built-in nor declared by a dashboard (`declared`), so a typo cannot pass as `.*`.
 */
export function substituteVariables(expr: string, values: TemplateValues, declared: ReadonlySet<string>): string {
  const builtins: Record<string, string> = {
    __rate_interval: values.rateInterval,
    __interval: values.interval,
    __range: values.range,
    __range_s: String(durationSeconds(values.range)),
    __interval_ms: String(durationSeconds(values.interval) * 1000),
  };
  const replace = (name: string): string => {
    const value = builtins[name] ?? values.variables?.[name] ?? (declared.has(name) ? '.*' : undefined);
    if (value === undefined) throw new Error(`unknown template variable $${name} in ${expr}`);
    return value;
  };
  return expr
    .replace(/\$\{(\w+)(?::\w+)?\}/g, (_m, name: string) => replace(name))
    .replace(/\[\[(\w+)\]\]/g, (_m, name: string) => replace(name))
    .replace(/\$(\w+)/g, (_m, name: string) => replace(name));
}

/** `label_values(selector, label)` → a query with one series per value; other queries as they are. */
export function variableAsQuery(query: string): string {
  const match = /^\s*label_values\(\s*(.*),\s*(\w+)\s*\)\s*$/s.exec(query);
  if (!match) return query;
  return `count by (${match[2]}) (${match[1]})`;
}

const PROMQL_WORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan', 'atan2']);

/** The metric (series) names an expression reads: identifiers that are neither functions, keywords nor labels. */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/'(?:[^'\\]|\\.)*'/g, "''")
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const match of stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const word = match[0];
    const rest = stripped.slice((match.index ?? 0) + word.length);
    if (/^\s*\(/.test(rest)) continue; // a function call
    if (PROMQL_WORDS.has(word.toLowerCase())) continue;
    const before = stripped.slice(0, match.index ?? 0);
    if (/\d$/.test(before)) continue; // the unit of a number such as 1e3 or a duration
    names.add(word);
  }
  return [...names];
}

function durationSeconds(duration: string): number {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(duration);
  if (!match) throw new Error(`not a duration: ${duration}`);
  const unit = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86_400 }[match[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Number(match[1]) * unit;
}
