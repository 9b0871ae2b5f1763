// Runs inside a pod namespace: HTTP/1.1 requests to one URL, each on a new connection (so
// every request makes a fresh mesh handshake), at a fixed rate for a fixed count. Prints
// one JSON line with the outcome of every request.
import http from 'node:http';

const [url, countArg, rateArg, retryArg] = process.argv.slice(2);
if (!url) throw new Error('usage: mesh-http-client <url> [count] [rate-per-s] [retry-until-ms]');
const count = Number(countArg ?? '1');
const intervalMs = 1000 / Number(rateArg ?? '10');
const retryUntil = Date.now() + Number(retryArg ?? '0');

interface Outcome {
  ok: boolean;
  status?: number;
  body?: string;
  error?: string;
}

function once(): Promise<Outcome> {
  return new Promise((resolve) => {
    const request = http.get(url!, { agent: false, timeout: 5000 }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ ok: response.statusCode === 200, status: response.statusCode, body: Buffer.concat(chunks).toString() }));
      response.on('error', (error) => resolve({ ok: false, error: error.message }));
    });
    request.on('timeout', () => request.destroy(new Error('timeout')));
    request.on('error', (error) => resolve({ ok: false, error: error.message }));
  });
}

async function withRetry(): Promise<Outcome> {
  for (;;) {
    const outcome = await once();
    if (outcome.ok || Date.now() > retryUntil) return outcome;
    await new Promise((r) => setTimeout(r, 200));
  }
}

const pending: Promise<Outcome>[] = [];
const start = Date.now();
for (let i = 0; i < count; i++) {
  const due = start + i * intervalMs;
  const wait = due - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  pending.push(withRetry());
}
const outcomes = await Promise.all(pending);
process.stdout.write(JSON.stringify({ outcomes }) + '\n');
