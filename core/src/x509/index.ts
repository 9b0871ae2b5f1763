// The public X.509 API of @reseal/core: everything else in this folder is an implementation detail.
export { generateWorkloadKeyPair, isP256Key } from './workload-key.js';
export type { WorkloadKeyPair } from './workload-key.js';
export { createCsr } from './csr-build.js';
export { parseCsr, DEFAULT_MAX_CSR_BYTES } from './csr-parse.js';
export type { ParsedCsr, ParseCsrOptions } from './csr-parse.js';
export { CsrRejectedError } from './csr-rejected-error.js';
export type { CsrRejectionCode } from './csr-rejected-error.js';
export { readSvid, readSpiffeId } from './svid-read.js';
export type { SvidReadResult } from './svid-read.js';
export { encodePem, decodePemBlocks, decodePemAll, decodePemOne, PemError } from './pem.js';
export type { PemBlock } from './pem.js';
export { publicKeySpkiDer, p256PublicKeySpkiDer } from './public-key-spki.js';
export { readCertificateFields } from './certificate-fields.js';
export type { CertificateFields, CertificateExtensionField } from './certificate-fields.js';
