// The probe configuration the injector hands to the sidecar: validated once, with clear errors.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AppProbeConfigError, parseAppProbes } from '../src/admin/app-probes.js';

test('HTTP, TCP, gRPC and exec probes are read; defaults filled in; other Probe fields dropped', () => {
  const probes = parseAppProbes(
    JSON.stringify({
      web: {
        liveness: { httpGet: { path: 'healthz', port: 8080, httpHeaders: [{ name: 'X-Probe', value: 'yes' }] }, timeoutSeconds: 3, periodSeconds: 10 },
        readiness: { httpGet: { port: '8443', scheme: 'https' } },
        startup: { tcpSocket: { port: 8080 } },
      },
      grpc: { liveness: { grpc: { port: 9090 } }, readiness: { grpc: { port: 9090, service: 'orders' } } },
      script: { liveness: { exec: { command: ['cat', '/tmp/healthy'] } }, readiness: null },
    }),
  );
  assert.deepEqual(probes, {
    web: {
      liveness: { httpGet: { path: '/healthz', port: 8080, scheme: 'HTTP', httpHeaders: [{ name: 'X-Probe', value: 'yes' }] }, timeoutSeconds: 3 },
      readiness: { httpGet: { path: '/', port: 8443, scheme: 'HTTPS', httpHeaders: [] } },
      startup: { tcpSocket: { port: 8080 } },
    },
    grpc: { liveness: { grpc: { port: 9090, service: '' } }, readiness: { grpc: { port: 9090, service: 'orders' } } },
    script: { liveness: { exec: { command: ['cat', '/tmp/healthy'] } } },
  });
  assert.deepEqual(parseAppProbes(''), {});
  assert.deepEqual(parseAppProbes({}), {});
});

test('malformed configurations are refused with the container and probe named', () => {
  const bad: [unknown, RegExp][] = [
    ['{not json', /not JSON/],
    [[], /expected an object/],
    [{ 'Not A Name': {} }, /not a container name/],
    [{ web: [] }, /web: expected an object/],
    [{ web: { ready: { tcpSocket: { port: 1 } } } }, /unknown probe "ready"/],
    [{ web: { liveness: {} } }, /web\/liveness: a probe has exactly one/],
    [{ web: { liveness: { tcpSocket: { port: 1 }, httpGet: { port: 1 } } } }, /exactly one/],
    [{ web: { liveness: { httpGet: { port: 'http' } } } }, /web\/liveness: httpGet.port must be a port number.*named ports/],
    [{ web: { liveness: { tcpSocket: { port: 70000 } } } }, /tcpSocket.port/],
    [{ web: { liveness: { grpc: { port: 0 } } } }, /grpc.port/],
    [{ web: { liveness: { httpGet: { port: 80, scheme: 'FTP' } } } }, /scheme/],
    [{ web: { liveness: { httpGet: { port: 80, path: '/a b' } } } }, /path/],
    [{ web: { liveness: { httpGet: { port: 80, httpHeaders: [{ name: 'Bad Name', value: 'x' }] } } } }, /httpHeaders\[0\]/],
    [{ web: { liveness: { httpGet: { port: 80, httpHeaders: [{ name: 'X', value: 'a\r\nInjected: 1' }] } } } }, /httpHeaders\[0\]/],
    [{ web: { liveness: { tcpSocket: { port: 80 }, timeoutSeconds: 0 } } }, /timeoutSeconds/],
  ];
  for (const [input, message] of bad) {
    assert.throws(() => parseAppProbes(input), (error: unknown) => error instanceof AppProbeConfigError && message.test(error.message), JSON.stringify(input));
  }
});
