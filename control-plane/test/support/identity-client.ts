import * as grpc from '@grpc/grpc-js';
import { createCsr, generateWorkloadKeyPair, identityClientConstructor, type CertifyResponse, type WorkloadKeyPair } from '@reseal/core';

export const CONTROL_PLANE_NAME = 'reseal-control-plane.reseal-system.svc';

export interface CallOptions {
  token?: string;
  /** Client certificate chain (PEM) and key for renewal over mTLS. */
  clientCert?: { chainPem: string; keyPem: string };
  ttlSeconds?: number;
}

export class TestIdentityClient {
  constructor(
    private readonly port: number,
    private readonly trustBundlePem: string,
  ) {}

  /** Sends `csr` as is; resolves with the response or the gRPC error. */
  async certifyRaw(csr: Buffer, options: CallOptions = {}): Promise<{ response?: CertifyResponse; error?: grpc.ServiceError }> {
    const credentials = options.clientCert
      ? grpc.credentials.createSsl(Buffer.from(this.trustBundlePem), Buffer.from(options.clientCert.keyPem), Buffer.from(options.clientCert.chainPem))
      : grpc.credentials.createSsl(Buffer.from(this.trustBundlePem));
    const Client = identityClientConstructor();
    const client = new Client(`127.0.0.1:${this.port}`, credentials, { 'grpc.ssl_target_name_override': CONTROL_PLANE_NAME });
    const metadata = new grpc.Metadata();
    if (options.token) metadata.set('authorization', `Bearer ${options.token}`);
    try {
      return await new Promise((resolve) => {
        client.certify({ csr, ttlSeconds: options.ttlSeconds ?? 0 }, metadata, { deadline: Date.now() + 10_000 }, (error, response) =>
          resolve(error ? { error } : { response: response! }),
        );
      });
    } finally {
      client.close();
    }
  }

  /** A fresh key and CSR for `spiffeId`, certified; throws on refusal. */
  async certify(spiffeId: string, options: CallOptions = {}): Promise<{ response: CertifyResponse; key: WorkloadKeyPair; keyPem: string }> {
    const key = generateWorkloadKeyPair();
    const { response, error } = await this.certifyRaw(createCsr(key.privateKey, key.publicKey, spiffeId), options);
    if (error) throw error;
    return { response: response!, key, keyPem: key.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() };
  }
}
