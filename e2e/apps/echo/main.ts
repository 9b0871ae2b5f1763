// The backend app of the e2e: answers every request with what it saw, and remembers the
// `x-e2e-marker` header of the last requests so a test can ask, from inside the pod
// (loopback, outside the mesh's capture), whether a given request arrived.
import { createServer } from 'node:http';

const port = Number(process.env.PORT ?? 8080);
const pod = process.env.POD_NAME ?? 'unknown';
const MAX_MARKERS = 10_000;
const seen = new Map<string, { at: string; remote: string; headers: Record<string, string | string[] | undefined> }>();
let served = 0;
const probeHits = { readyz: 0, healthz: 0 };
// Liveness can be failed on purpose (POST /fail-liveness) to watch the kubelet stand-in restart us.
let live = true;

const server = createServer((request, response) => {
  const url = new URL(request.url ?? '/', 'http://app');
  if (url.pathname === '/probe-hits') {
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(probeHits));
    return;
  }
  if (url.pathname === '/healthz' || url.pathname === '/readyz') {
    probeHits[url.pathname === '/healthz' ? 'healthz' : 'readyz'] += 1;
    response.writeHead(live || url.pathname === '/readyz' ? 200 : 500, { 'content-type': 'text/plain' }).end(live ? 'ok\n' : 'failing\n');
    return;
  }
  if (url.pathname === '/fail-liveness' && request.method === 'POST') {
    live = false;
    response.writeHead(200).end('liveness will fail\n');
    return;
  }
  // GET /status/503 answers 503: errors on demand, for the dashboards' 5xx panels.
  const status = /^\/status\/([1-5]\d\d)$/.exec(url.pathname);
  if (status && Number(status[1]) >= 200) {
    request.resume();
    response.writeHead(Number(status[1]), { 'content-type': 'text/plain' }).end(`status ${status[1]}\n`);
    return;
  }
  if (url.pathname.startsWith('/seen/')) {
    const record = seen.get(decodeURIComponent(url.pathname.slice('/seen/'.length)));
    response.writeHead(record ? 200 : 404, { 'content-type': 'application/json' }).end(JSON.stringify(record ?? { seen: false }));
    return;
  }
  const marker = request.headers['x-e2e-marker'];
  if (typeof marker === 'string') {
    if (seen.size >= MAX_MARKERS) seen.delete(seen.keys().next().value as string);
    seen.set(marker, { at: new Date().toISOString(), remote: request.socket.remoteAddress ?? '', headers: request.headers });
  }
  served += 1;
  request.resume();
  request.on('end', () => {
    response.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({ pod, served, method: request.method, path: url.pathname, marker: marker ?? null, remote: request.socket.remoteAddress }) + '\n',
    );
  });
});

server.keepAliveTimeout = 65_000;
server.listen(port, '0.0.0.0', () => console.log(JSON.stringify({ msg: 'echo app listening', port, pod })));
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeIdleConnections();
    setTimeout(() => process.exit(0), 2000).unref();
  });
}
