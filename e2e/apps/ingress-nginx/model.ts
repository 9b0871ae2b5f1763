// What the controller serves, independent of both Kubernetes objects and nginx syntax:
// build-model.ts makes it from the API objects, render-config.ts turns it into nginx.conf.

export type PathType = 'Prefix' | 'Exact' | 'ImplementationSpecific';

/** Where a location sends its requests: an upstream of pod addresses, or a fixed status. */
export type Backend =
  | { kind: 'upstream'; upstream: string }
  /** 503: the Service, its port or its ready endpoints are missing; 404: nothing routes here. */
  | { kind: 'status'; status: 404 | 503 };

export interface Location {
  path: string;
  pathType: PathType;
  backend: Backend;
  /** `namespace/name` of the Ingress the path comes from, for the generated comment. */
  source: string;
}

export interface Server {
  /** A DNS name or a wildcard `*.example.com`. */
  host: string;
  /** Id of the certificate for this host (see NginxModel.certificates); absent: the default certificate. */
  certificate?: string;
  /** ingress-nginx's ssl-redirect: plain HTTP to a TLS host gets a 308 to HTTPS. */
  sslRedirect: boolean;
  locations: Location[];
}

export interface Upstream {
  /** nginx upstream name, `<namespace>-<service>-<port>`. */
  name: string;
  /** Ready pod endpoints, `ip:port` (`[ip]:port` for IPv6), sorted. Never empty. */
  addresses: string[];
}

export interface NginxModel {
  servers: Server[];
  /** Locations of the catch-all server (rules without host, an Ingress's default backend); empty: 404. */
  defaultLocations: Location[];
  upstreams: Upstream[];
}

export interface CertificatePem {
  certPem: string;
  keyPem: string;
}
