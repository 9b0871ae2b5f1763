// A minimal OTLP/HTTP JSON receiver (what an OpenTelemetry Collector's otlp receiver does
// on :4318): it keeps every export request body by signal so tests can read back spans and
// metrics the SDK really pushed over the wire.

import { once } from 'node:events';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface OtlpAttribute {
  readonly key: string;
  readonly value: { stringValue?: string; intValue?: string | number; boolValue?: boolean; doubleValue?: number };
}

export interface OtlpSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
  readonly name: string;
  readonly kind: number;
  readonly attributes: OtlpAttribute[];
  readonly status?: { code?: number };
}

export interface OtlpReceiver {
  readonly endpoint: string;
  spans(): OtlpSpan[];
  /** Names of every metric received. */
  metricNames(): Set<string>;
  /** Content types the exporters used. */
  readonly contentTypes: Set<string>;
  close(): Promise<void>;
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const bodies = { traces: [] as unknown[], metrics: [] as unknown[] };
  const contentTypes = new Set<string>();
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      contentTypes.add(String(request.headers['content-type']));
      const signal = request.url === '/v1/traces' ? 'traces' : request.url === '/v1/metrics' ? 'metrics' : undefined;
      if (signal === undefined || request.method !== 'POST') {
        response.writeHead(404).end();
        return;
      }
      try {
        bodies[signal].push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        response.writeHead(400).end();
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    contentTypes,
    spans() {
      const out: OtlpSpan[] = [];
      for (const body of bodies.traces as { resourceSpans?: { scopeSpans?: { spans?: OtlpSpan[] }[] }[] }[]) {
        for (const rs of body.resourceSpans ?? []) for (const ss of rs.scopeSpans ?? []) out.push(...(ss.spans ?? []));
      }
      return out;
    },
    metricNames() {
      const names = new Set<string>();
      for (const body of bodies.metrics as { resourceMetrics?: { scopeMetrics?: { metrics?: { name: string }[] }[] }[] }[]) {
        for (const rm of body.resourceMetrics ?? []) for (const sm of rm.scopeMetrics ?? []) for (const m of sm.metrics ?? []) names.add(m.name);
      }
      return names;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function attribute(span: OtlpSpan, key: string): string | number | boolean | undefined {
  const value = span.attributes.find((a) => a.key === key)?.value;
  if (value === undefined) return undefined;
  return value.stringValue ?? (value.intValue === undefined ? undefined : Number(value.intValue)) ?? value.boolValue ?? value.doubleValue;
}
