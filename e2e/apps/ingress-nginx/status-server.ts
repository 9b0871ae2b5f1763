// ingress-nginx's status port (10254): /healthz answers 200 once nginx runs a rendered
// config and the watches are synced, 503 with the reason before; the pod's readiness probe.
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';

export interface StatusSource {
  /** undefined when healthy, else why not. */
  notReadyReason(): string | undefined;
  /** What /debug/model returns: the model being served, no key material. */
  debugModel(): unknown;
}

export async function startStatusServer(source: StatusSource, port: number, host?: string): Promise<Server> {
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405).end();
    } else if (path === '/healthz') {
      const reason = source.notReadyReason();
      response.writeHead(reason ? 503 : 200, { 'content-type': 'text/plain' }).end(reason ? `not ready: ${reason}\n` : 'ok\n');
    } else if (path === '/debug/model') {
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(source.debugModel(), null, 2) + '\n');
    } else {
      response.writeHead(404).end();
    }
  });
  server.listen(port, host);
  await once(server, 'listening');
  return server;
}
