export { IssuedCertificateLog, type IssuedCertificateRecord } from './issued-certificates.js';
export { parsePrometheusText, sumSamples, type Sample } from './prometheus-text.js';
export { buildStatusSnapshot, type StatusEdge, type StatusSnapshot } from './status-model.js';
export { startStatusPage, type RunningStatusPage, type StatusPageOptions } from './status-server.js';
export { parseStatusTargets, readStatusTargets, StatusTargetsError, type StatusTargets } from './status-targets.js';
export { parseStubStatus } from './target-probes.js';
export { probeEntrypoint, scrapeSidecar, type EntrypointProbe, type SidecarScrape } from './target-probes.js';
