// The e2e pod runner: a test-only kubelet stand-in that realises Pods as network namespaces
// with processes. See README.md for what it does and does not do.
export { resolveContainerArgv } from './container-command.js';
export { DEFAULT_PATH, resolveContainerEnv, type EnvContext, type EnvResult } from './container-env.js';
export type { ExecResult } from './container-process.js';
export { renderHostsFile, serviceAddresses, type ServiceAddress } from './hosts-file.js';
export { imageRepository, lookupImage, type ImageSpec, type ImageTable } from './image-table.js';
export { createNodeNetwork, removeAbandoned, type NodeNetwork, type NodeNetworkOptions, type PodInterface } from './node-network.js';
export { acceptedButNotEnforced, unsupportedPodFeatures, type FeatureContext } from './pod-features.js';
export { startPodRunner, type PodRunner, type PodRunnerOptions } from './pod-runner.js';
export { expandVariables } from './variable-expansion.js';
