// prometheus.yml for the test, made from the scrape jobs users are told to use
// (manifests/dashboards/prometheus-scrape.yaml): the same jobs and relabelling, with the
// test cluster's kubeconfig for discovery (Prometheus runs on the node, outside the cluster)
// and a short scrape interval.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { REPO_ROOT } from '../harness/images.js';

export const DASHBOARDS_DIR = join(REPO_ROOT, 'manifests/dashboards');
export const SCRAPE_CONFIG_PATH = join(DASHBOARDS_DIR, 'prometheus-scrape.yaml');

interface ScrapeJob {
  job_name: string;
  kubernetes_sd_configs?: Record<string, unknown>[];
  [key: string]: unknown;
}

export function renderPrometheusConfig(options: { kubeconfigPath: string; scrapeInterval: string }): { yaml: string; jobs: string[] } {
  const source = parse(readFileSync(SCRAPE_CONFIG_PATH, 'utf8')) as { scrape_configs?: ScrapeJob[] };
  const jobs = source.scrape_configs ?? [];
  if (jobs.length === 0) throw new Error(`${SCRAPE_CONFIG_PATH}: no scrape_configs`);
  for (const job of jobs) {
    if (!job.kubernetes_sd_configs?.length) throw new Error(`${SCRAPE_CONFIG_PATH}: job ${job.job_name} has no kubernetes_sd_configs`);
    job.kubernetes_sd_configs = job.kubernetes_sd_configs.map((sd) => ({ ...sd, kubeconfig_file: options.kubeconfigPath }));
  }
  const config = {
    global: { scrape_interval: options.scrapeInterval, scrape_timeout: options.scrapeInterval, evaluation_interval: options.scrapeInterval },
    scrape_configs: jobs,
  };
  return { yaml: stringify(config), jobs: jobs.map((j) => j.job_name) };
}
