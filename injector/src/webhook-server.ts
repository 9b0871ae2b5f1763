import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { reviewAdmission, type AdmissionOutcome, type AdmissionResult } from './admission-review.js';
import { pollFiles, type FilePoller } from './file-poller.js';
import type { InjectorMetrics } from './injector-metrics.js';
import type { InjectContext, MeshInjectSettings } from './patch/inject-context.js';
import { loadServingCertificate, parseServingCertificate, type ServingCertificate } from './serving-certificate.js';

/** The API server's own limit on a request body; an AdmissionReview never legitimately exceeds it. */
export const DEFAULT_MAX_BODY_BYTES = 3 * 1024 * 1024;
export const MUTATE_PATH = '/mutate';

export interface WebhookServerOptions {
  /** Default 0.0.0.0. */
  readonly host?: string;
  /** 0 picks a free port (tests). */
  readonly port: number;
  /** PEM files, re-read every reloadIntervalMs (default 10 s): the control plane rotates them. */
  readonly tls: { readonly certFile: string; readonly keyFile: string; readonly reloadIntervalMs?: number };
  /** Read on every request, so a new trust-root hash applies from the next pod on. */
  readonly settings: () => MeshInjectSettings;
  readonly logger: Logger;
  readonly metrics: InjectorMetrics;
  readonly maxBodyBytes?: number;
}

export interface WebhookServer {
  readonly port: number;
  /** https://localhost:<port>/mutate */
  readonly url: string;
  /** The certificate currently served. */
  certificate(): ServingCertificate;
  ready(): boolean;
  /** Stops accepting, lets in-flight reviews finish (at most graceMs, default 5 s), then closes. */
  stop(graceMs?: number): Promise<void>;
}

function sendJson(response: ServerResponse, status: number, body: unknown, close = false): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...(close ? { connection: 'close' } : {}) });
  response.end(text);
}

function sendText(response: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  response.end(text);
}

/**
 * HTTPS `POST /mutate` for the MutatingWebhookConfiguration, plus `/live` and `/ready` for
 * kubelet. Every /mutate request gets an answer, a metric and one log line, whatever it
 * contains; nothing a client sends can throw out of the handler.
 */
export async function startWebhookServer(options: WebhookServerOptions): Promise<WebhookServer> {
  const { logger, metrics } = options;
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  let current = await loadServingCertificate(options.tls.certFile, options.tls.keyFile);
  metrics.servingCertificate(current.notAfter);
  let stopping = false;

  const contextFor = (namespace: string): InjectContext => ({ ...options.settings(), namespace });

  const finish = (started: number, result: AdmissionResult, fields: Record<string, unknown>, level: 'info' | 'warn' | 'error' = result === 'injected' || result === 'skipped' ? 'info' : 'warn'): void => {
    const seconds = (performance.now() - started) / 1000;
    metrics.record(result, seconds);
    logger[level]({ event: 'admission', result, durationMs: Math.round(seconds * 1e6) / 1e3, ...fields }, `admission ${result}`);
  };

  const answerReview = (started: number, body: Buffer, response: ServerResponse): void => {
    let review: unknown;
    try {
      review = JSON.parse(body.toString('utf8'));
    } catch (error) {
      sendText(response, 400, `request body is not JSON: ${(error as Error).message}\n`);
      finish(started, 'error', { status: 400, reason: 'body is not JSON' });
      return;
    }
    let outcome: AdmissionOutcome;
    try {
      outcome = reviewAdmission(review, contextFor);
    } catch (error) {
      // reviewAdmission catches injection failures itself; this is a bug in it.
      sendJson(response, 500, { error: 'internal error' });
      finish(started, 'error', { status: 500, err: error }, 'error');
      return;
    }
    sendJson(response, 200, outcome.answer);
    finish(
      started,
      outcome.result,
      {
        uid: outcome.uid,
        namespace: outcome.namespace,
        pod: outcome.pod,
        allowed: outcome.answer.response.allowed,
        ...(outcome.reason === undefined ? {} : { reason: outcome.reason }),
        ...(outcome.patchOperations > 0 ? { patchOperations: outcome.patchOperations } : {}),
        ...(outcome.internalError === undefined ? {} : { err: outcome.internalError }),
      },
      outcome.internalError === undefined ? undefined : 'error',
    );
  };

  const handleMutate = (request: IncomingMessage, response: ServerResponse, started: number): void => {
    if (request.method !== 'POST') {
      sendText(response, 405, 'use POST\n', { allow: 'POST' });
      finish(started, 'error', { status: 405, method: request.method });
      return;
    }
    const declared = Number(request.headers['content-length']);
    const tooLarge = (): void => {
      // The rest of the body is not read, so the connection cannot be reused.
      sendText(response, 413, `request body exceeds ${maxBody} bytes\n`, { connection: 'close' });
      response.once('finish', () => request.socket.destroy());
      finish(started, 'error', { status: 413, reason: 'body too large' });
    };
    if (Number.isFinite(declared) && declared > maxBody) {
      tooLarge();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let aborted = false;
    request.on('data', (chunk: Buffer) => {
      if (aborted) return;
      size += chunk.length;
      if (size > maxBody) {
        aborted = true;
        request.pause();
        tooLarge();
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => {
      if (!aborted) answerReview(started, Buffer.concat(chunks, size), response);
    });
    request.on('error', (error) => {
      if (aborted) return;
      aborted = true;
      finish(started, 'error', { reason: 'request stream failed', err: error });
    });
  };

  const server: Server = createServer({ cert: current.certPem, key: current.keyPem, minVersion: 'TLSv1.2' }, (request, response) => {
    const started = performance.now();
    const path = (request.url ?? '/').split('?')[0];
    try {
      if (path === MUTATE_PATH) return handleMutate(request, response, started);
      if (path === '/live' && (request.method === 'GET' || request.method === 'HEAD')) return sendText(response, 200, 'ok\n');
      if (path === '/ready' && (request.method === 'GET' || request.method === 'HEAD')) return stopping ? sendText(response, 503, 'stopping\n') : sendText(response, 200, 'ready\n');
      if (path === '/live' || path === '/ready') return sendText(response, 405, 'use GET\n', { allow: 'GET, HEAD' });
      sendText(response, 404, `not found; the webhook is POST ${MUTATE_PATH}\n`);
    } catch (error) {
      logger.error({ event: 'webhook_handler_failed', err: error }, 'request handler failed');
      if (!response.headersSent) sendText(response, 500, 'internal error\n');
      else response.destroy();
    }
  });
  // The API server keeps connections open between admissions; a client that never
  // finishes its request must not hold a socket forever.
  server.keepAliveTimeout = 60_000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;
  server.on('tlsClientError', (error) => logger.debug({ event: 'tls_client_error', err: error }, 'TLS handshake failed'));
  server.on('clientError', (error, socket) => {
    logger.debug({ event: 'client_error', err: error }, 'malformed HTTP request');
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
    else socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (error) => logger.error({ event: 'webhook_server_error', err: error }, 'webhook server error'));
  const port = (server.address() as AddressInfo).port;
  logger.info({ event: 'webhook_listening', port, certificateNotAfter: current.notAfter.toISOString() }, 'webhook listening');

  const poller: FilePoller = pollFiles(
    [options.tls.certFile, options.tls.keyFile],
    [current.certPem, current.keyPem],
    options.tls.reloadIntervalMs ?? 10_000,
    ([certPem, keyPem]) => {
      try {
        const next = parseServingCertificate(certPem as Buffer, keyPem as Buffer);
        server.setSecureContext({ cert: next.certPem, key: next.keyPem, minVersion: 'TLSv1.2' });
        current = next;
        metrics.servingCertificate(next.notAfter);
        logger.info({ event: 'serving_certificate_reloaded', notAfter: next.notAfter.toISOString() }, 'serving certificate reloaded');
      } catch (error) {
        logger.warn({ event: 'serving_certificate_rejected', err: error }, 'new serving certificate not usable yet; keeping the current one');
      }
    },
    (error) => logger.warn({ event: 'serving_certificate_unreadable', err: error }, 'cannot read the serving certificate files; keeping the current one'),
  );

  return {
    port,
    url: `https://localhost:${port}${MUTATE_PATH}`,
    certificate: () => current,
    ready: () => !stopping,
    stop: async (graceMs = 5000) => {
      if (stopping) return;
      stopping = true;
      poller.stop();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), graceMs);
      await closed;
      clearTimeout(timer);
    },
  };
}
