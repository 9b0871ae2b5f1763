import type { AddressInfo, Server } from 'node:net';

/**
 * Socket options of every proxied connection: no Nagle delay (request/response traffic),
 * TCP keep-alive so a peer that vanished without FIN or RST is noticed (after ~1 min idle
 * plus the kernel's probes) instead of holding its relay forever.
 */
export const PROXY_SOCKET_OPTIONS = Object.freeze({ noDelay: true, keepAlive: true, keepAliveInitialDelay: 60_000 });

/** server.listen as a promise: resolves with the bound address, rejects on EADDRINUSE and the like. */
export function listenOn(server: Server, port: number, host?: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    server.once('error', onError);
    server.listen({ port, host, backlog: 1024 }, () => {
      server.removeListener('error', onError);
      resolve(server.address() as AddressInfo);
    });
  });
}
