export { DiscoveryClient, type DiscoveryClientOptions } from './discovery-client.js';
export { readTokenFile, type DiscoveryCredentials, type CredentialsSource } from './discovery-credentials.js';
export { MeshState, canonicalIp, type MeshStateChange } from './mesh-state.js';
export { Backoff, type BackoffOptions } from './backoff.js';
