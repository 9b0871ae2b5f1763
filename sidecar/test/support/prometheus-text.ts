import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Telemetry } from '@reseal/core';

/** What Prometheus would scrape from `telemetry`: its handler served on a loopback port and fetched. */
export async function prometheusText(telemetry: Telemetry): Promise<string> {
  const server = createServer((request, response) => telemetry.metricsHandler(request, response));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const response = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`);
    return await response.text();
  } finally {
    server.close();
  }
}
