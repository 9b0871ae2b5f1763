// Explicit mode: static listeners without iptables (outside Kubernetes, the demo).
export { parseExplicitConfig, parseHostPort, formatHostPort, identityAllowed, ExplicitConfigError } from './explicit-config.js';
export type {
  ExplicitConfig,
  ExplicitListenerConfig,
  ExplicitInboundListenerConfig,
  ExplicitOutboundListenerConfig,
  HostPort,
} from './explicit-config.js';
export { startExplicitListeners, explicitInboundPolicy } from './explicit-listeners.js';
export type { ExplicitListenerDeps, ExplicitListeners, RunningInbound, RunningOutbound } from './explicit-listeners.js';
