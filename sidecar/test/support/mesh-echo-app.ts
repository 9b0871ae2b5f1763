// The "app" of a server pod: answers every request with what it saw, and prints one JSON
// line per request so the test knows exactly which requests reached it.
import http from 'node:http';

const port = Number(process.argv[2] ?? '8080');
const server = http.createServer((request, response) => {
  process.stdout.write(JSON.stringify({ event: 'request', url: request.url, remote: request.socket.remoteAddress }) + '\n');
  response.setHeader('content-type', 'application/json');
  response.end(JSON.stringify({ url: request.url }));
});
server.listen(port, '0.0.0.0', () => process.stdout.write(JSON.stringify({ event: 'listening', port }) + '\n'));
