// The inbound side: what happens to a connection arriving at this workload.
export { InboundProxy } from './inbound-proxy.js';
export type { InboundConnectionEvent, InboundPolicy, InboundProxyOptions } from './inbound-proxy.js';
export { RecentPeers } from './recent-peers.js';
export type { InboundPeerRecord } from './recent-peers.js';
export { classifyFirstBytes, offeredAlpn, MAX_FIRST_BYTES } from './first-bytes.js';
export type { FirstBytesKind } from './first-bytes.js';
