// The environment, parsed and checked once at start-up; nothing else reads process.env.

export interface ControllerConfig {
  /** Ingresses with this `spec.ingressClassName` are ours. INGRESS_CLASS, default nginx. */
  ingressClass: string;
  /** NGINX_WORK_DIR, default /tmp/ingress-nginx. */
  workDir: string;
  /** NGINX_BINARY, default /usr/sbin/nginx. */
  nginxBinary: string;
  /** HTTP_PORT 80, HTTPS_PORT 443, STATUS_PORT 10254. */
  httpPort: number;
  httpsPort: number;
  statusPort: number;
  /** LISTEN_ADDRESS: the address nginx and the status server bind; default all IPv4 addresses. */
  listenAddress?: string;
  /** POD_IP: written to the status of our Ingresses; unset, the status is left alone. */
  podIp?: string;
  /** NGINX_USER / NGINX_GROUP (default nobody / nogroup): nginx's workers, when it starts as root. */
  workerUser: string;
  workerGroup: string;
  /** MESH_PROXY_UID, default 1337: the UID nginx's workers must not have. */
  meshProxyUid: number;
  /** RELOAD_DEBOUNCE_MS, default 200: changes within this window make one reload. */
  reloadDebounceMs: number;
}

export function parseConfig(env: Record<string, string | undefined>): ControllerConfig {
  const ingressClass = env['INGRESS_CLASS'] || 'nginx';
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(ingressClass)) throw new Error(`INGRESS_CLASS ${JSON.stringify(ingressClass)} is not a valid name`);
  const workDir = env['NGINX_WORK_DIR'] || '/tmp/ingress-nginx';
  if (!workDir.startsWith('/')) throw new Error(`NGINX_WORK_DIR must be absolute, got ${JSON.stringify(workDir)}`);
  const config: ControllerConfig = {
    ingressClass,
    workDir: workDir.replace(/\/+$/, '') || '/',
    nginxBinary: env['NGINX_BINARY'] || '/usr/sbin/nginx',
    httpPort: port(env, 'HTTP_PORT', 80),
    httpsPort: port(env, 'HTTPS_PORT', 443),
    statusPort: port(env, 'STATUS_PORT', 10254),
    workerUser: name(env, 'NGINX_USER', 'nobody'),
    workerGroup: name(env, 'NGINX_GROUP', 'nogroup'),
    meshProxyUid: integer(env, 'MESH_PROXY_UID', 1337, 0, 2 ** 31 - 1),
    reloadDebounceMs: integer(env, 'RELOAD_DEBOUNCE_MS', 200, 0, 60_000),
  };
  const listenAddress = env['LISTEN_ADDRESS'];
  if (listenAddress) {
    if (!isIPv4(listenAddress)) throw new Error(`LISTEN_ADDRESS must be an IPv4 address, got ${JSON.stringify(listenAddress)}`);
    config.listenAddress = listenAddress;
  }
  const podIp = env['POD_IP'];
  if (podIp) {
    if (!isIPv4(podIp) && !/^[0-9a-fA-F:]+$/.test(podIp)) throw new Error(`POD_IP must be an IP address, got ${JSON.stringify(podIp)}`);
    config.podIp = podIp;
  }
  if (new Set([config.httpPort, config.httpsPort, config.statusPort]).size !== 3) {
    throw new Error('HTTP_PORT, HTTPS_PORT and STATUS_PORT must differ');
  }
  return config;
}

function isIPv4(value: string): boolean {
  return /^(\d{1,3})(\.\d{1,3}){3}$/.test(value) && value.split('.').every((p) => Number(p) <= 255);
}

function integer(env: Record<string, string | undefined>, key: string, fallback: number, min: number, max: number): number {
  const raw = env[key];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) throw new Error(`${key} must be an integer in [${min}, ${max}], got ${JSON.stringify(raw)}`);
  return Number(raw);
}

function port(env: Record<string, string | undefined>, key: string, fallback: number): number {
  return integer(env, key, fallback, 1, 65535);
}

function name(env: Record<string, string | undefined>, key: string, fallback: string): string {
  const value = env[key] || fallback;
  if (!/^[a-z_][a-z0-9_-]*\$?$/i.test(value)) throw new Error(`${key} ${JSON.stringify(value)} is not a valid user or group name`);
  return value;
}
