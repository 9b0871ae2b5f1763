import { randomFillSync } from 'node:crypto';

// One getrandom per 256 serials instead of one per certificate.
const POOL_SIZE = 16 * 256;
const pool = Buffer.alloc(POOL_SIZE);
let offset = POOL_SIZE;

/**
 * INTEGER contents of a fresh certificate serial: 16 bytes, 126 of them random (CA/B
 * Forum asks for ≥ 64), positive with a set second-highest bit so the DER is always exactly
 * 16 bytes with no leading zero to strip.
 */
export function randomSerial(): Buffer {
  if (offset === POOL_SIZE) {
    randomFillSync(pool);
    offset = 0;
  }
  const serial = Buffer.from(pool.subarray(offset, offset + 16));
  // Used bytes are overwritten so a serial never lingers in the pool after it is handed out.
  pool.fill(0, offset, offset + 16);
  offset += 16;
  serial[0] = (serial[0]! & 0x7f) | 0x40;
  return serial;
}

/** Serial as node:crypto's X509Certificate.serialNumber prints it (upper-case hex). */
export function serialHex(serial: Uint8Array): string {
  return Buffer.from(serial).toString('hex').toUpperCase();
}
