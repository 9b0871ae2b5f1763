// prometheus.yml for the test, made from the scrape jobs users are told to use
// (manifests/dashboards/prometheus-scrape.yaml): the same jobs and relabelling, a short
// scrape interval, and discovery that works from the node: the test cluster's kubeconfig
// when this Prometheus has Kubernetes discovery, else the HTTP stand-in of pod-discovery.ts
// (Debian's build has no kubernetes_sd_configs).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { REPO_ROOT } from '../harness/images.js';

export const DASHBOARDS_DIR = join(REPO_ROOT, 'manifests/dashboards');
export const SCRAPE_CONFIG_PATH = join(DASHBOARDS_DIR, 'prometheus-scrape.yaml');

export type Discovery =
  /** kubernetes_sd_configs as written, with `kubeconfig_file` added. */
  | { readonly kind: 'kubernetes'; readonly kubeconfigPath: string }
  /** Each kubernetes_sd_configs entry (role pod) replaced by http_sd_configs at this URL. */
  | { readonly kind: 'http'; readonly url: string };

interface ScrapeJob {
  job_name: string;
  kubernetes_sd_configs?: Record<string, unknown>[];
  http_sd_configs?: Record<string, unknown>[];
  [key: string]: unknown;
}

export function renderPrometheusConfig(options: { discovery: Discovery; scrapeInterval: string }): { yaml: string; jobs: string[] } {
  const source = parse(readFileSync(SCRAPE_CONFIG_PATH, 'utf8')) as { scrape_configs?: ScrapeJob[] };
  const jobs = source.scrape_configs ?? [];
  if (jobs.length === 0) throw new Error(`${SCRAPE_CONFIG_PATH}: no scrape_configs`);
  const { discovery } = options;
  for (const job of jobs) {
    const sd = job.kubernetes_sd_configs ?? [];
    if (sd.length === 0) throw new Error(`${SCRAPE_CONFIG_PATH}: job ${job.job_name} has no kubernetes_sd_configs`);
    if (discovery.kind === 'kubernetes') {
      job.kubernetes_sd_configs = sd.map((entry) => ({ ...entry, kubeconfig_file: discovery.kubeconfigPath }));
    } else {
      for (const entry of sd) {
        if (entry.role !== 'pod' || Object.keys(entry).length !== 1) throw new Error(`${SCRAPE_CONFIG_PATH}: job ${job.job_name}: the HTTP stand-in only knows a plain role: pod`);
      }
      delete job.kubernetes_sd_configs;
      job.http_sd_configs = [{ url: discovery.url, refresh_interval: options.scrapeInterval }];
    }
  }
  const config = {
    global: { scrape_interval: options.scrapeInterval, scrape_timeout: options.scrapeInterval, evaluation_interval: options.scrapeInterval },
    scrape_configs: jobs,
  };
  return { yaml: stringify(config), jobs: jobs.map((j) => j.job_name) };
}

/** Whether this Prometheus build knows kubernetes_sd_configs (asks promtool of the same install). */
export function hasKubernetesDiscovery(promtool = '/usr/bin/promtool'): boolean {
  const dir = mkdtempSync(join(tmpdir(), 'reseal-e2e-promtool-'));
  try {
    const file = join(dir, 'prometheus.yml');
    writeFileSync(file, stringify({ scrape_configs: [{ job_name: 'probe', kubernetes_sd_configs: [{ role: 'pod', kubeconfig_file: file }] }] }));
    const result = spawnSync(promtool, ['check', 'config', '--syntax-only', file], { encoding: 'utf8', timeout: 10_000 });
    return !`${result.stdout}${result.stderr}`.includes('kubernetes_sd_configs not found');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
