// The demo's backend app: a plain HTTP service on loopback that knows nothing about TLS.
// It answers with what it saw, counts requests and connections, and reports the counts to
// the demo over IPC.
import { createServer } from 'node:http';

const port = Number(process.argv[2]);
let requests = 0;
let connections = 0;
const remoteAddresses = new Set<string>();

const server = createServer((request, response) => {
  requests += 1;
  remoteAddresses.add(request.socket.remoteAddress ?? '?');
  const body = JSON.stringify({ app: 'shop/web', request: request.headers['x-demo-request'] ?? null, path: request.url, seenFrom: request.socket.remoteAddress });
  response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
});
server.on('connection', () => (connections += 1));
server.keepAliveTimeout = 1000;
server.listen(port, '127.0.0.1', () => process.send?.({ kind: 'listening', port }));

process.on('message', (message: { kind?: string }) => {
  if (message?.kind === 'stats') process.send?.({ kind: 'stats', requests, connections, remoteAddresses: [...remoteAddresses] });
});
process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'));
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
