export * from './spiffe-id.js';
export * from './x509/index.js';
export * from './proto/identity.js';
export * from './proto/discovery.js';
export * from './telemetry.js';
export * from './monitoring-server.js';
export * from './process-lifecycle.js';
export * from './cidr.js';
