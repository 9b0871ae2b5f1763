// The edge when nginx is not installed: an HTTPS server that terminates the client's TLS
// and proxies plaintext HTTP to its sidecar's outbound listener, one connection per request
// as nginx does by default. It also serves nginx's stub_status format, so the status page
// reads the same request counter from either.
// argv: <edge port> <status port> <upstream port> <cert chain file> <key file>
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';

const [edgePort, statusPort, upstreamPort] = process.argv.slice(2, 5).map(Number) as [number, number, number];
const [certFile, keyFile] = process.argv.slice(5, 7) as [string, string];

let accepted = 0;
let requests = 0;
let active = 0;

const edge = createHttpsServer({ cert: readFileSync(certFile), key: readFileSync(keyFile), minVersion: 'TLSv1.2' }, (request, response) => {
  requests += 1;
  const upstream = httpRequest(
    {
      host: '127.0.0.1',
      port: upstreamPort,
      method: request.method,
      path: request.url,
      headers: { ...request.headers, connection: 'close', 'x-forwarded-proto': 'https', 'x-forwarded-for': request.socket.remoteAddress ?? '' },
      agent: false,
    },
    (upstreamResponse) => {
      response.writeHead(upstreamResponse.statusCode ?? 502, upstreamResponse.headers);
      upstreamResponse.pipe(response);
    },
  );
  upstream.on('error', (error) => {
    if (!response.headersSent) response.writeHead(502, { 'content-type': 'text/plain' });
    response.end(`bad gateway: ${error.message}\n`);
  });
  request.pipe(upstream);
});
edge.on('secureConnection', (socket) => {
  accepted += 1;
  active += 1;
  socket.once('close', () => (active -= 1));
});
edge.keepAliveTimeout = 5000;

const status = createHttpServer((_request, response) => {
  response.writeHead(200, { 'content-type': 'text/plain' });
  response.end(`Active connections: ${active} \nserver accepts handled requests\n ${accepted} ${accepted} ${requests} \nReading: 0 Writing: ${active} Waiting: 0 \n`);
});

edge.listen(edgePort, '127.0.0.1', () => status.listen(statusPort, '127.0.0.1', () => process.stdout.write(`edge listening on ${edgePort}\n`)));
process.on('SIGTERM', () => {
  edge.closeAllConnections();
  status.closeAllConnections();
  edge.close(() => status.close(() => process.exit(0)));
});
