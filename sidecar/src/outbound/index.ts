// The outbound side: what happens to a connection the app opens toward another workload.
export { OutboundProxy } from './outbound-proxy.js';
export type { OutboundProxyOptions } from './outbound-proxy.js';
export { meshRouter, staticRouter, unmapIpv4 } from './outbound-route.js';
export type { MeshRouterOptions, OriginalDestination, OutboundRoute, OutboundRouter, StaticDestination, UnmeshedPolicy } from './outbound-route.js';
export { TargetLoad, pickTarget } from './target-balancer.js';
export { dialMtls } from './mtls-dial.js';
export type { MtlsDialFailure, MtlsDialOptions, MtlsDialSuccess } from './mtls-dial.js';
