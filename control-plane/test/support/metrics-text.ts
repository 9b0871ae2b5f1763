/** One scrape of a component's /metrics, read the way Prometheus would. */
export interface Scrape {
  readonly text: string;
  /**
   * The value of the sample `name` whose labels are exactly `labels`; undefined when there is
   * no such series.
   */
  value(name: string, labels?: Readonly<Record<string, string>>): number | undefined;
}

export async function scrapeMetrics(adminPort: number): Promise<Scrape> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!match) continue;
    const labels = [...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => `${m[1]}=${m[2]}`).sort();
    samples.set(`${match[1]}{${labels.join(',')}}`, Number(match[3]));
  }
  return {
    text,
    value: (name, labels = {}) => {
      const key = Object.entries(labels).map(([k, v]) => `${k}=${v}`).sort();
      return samples.get(`${name}{${key.join(',')}}`);
    },
  };
}
