// PEM per RFC 7468: text outside the encapsulation boundaries is allowed (OpenSSL writes
// "Bag Attributes" and comments there), but the base64 body is checked strictly because
// Buffer.from(…, 'base64') would silently skip garbage and decode something else.

export interface PemBlock {
  readonly label: string;
  readonly der: Buffer;
}

export class PemError extends Error {
  override readonly name = 'PemError';
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]{1,64})-----([\s\S]*?)-----END ([A-Z0-9 ]{1,64})-----/g;
const BASE64_BODY = /^[A-Za-z0-9+/]*={0,2}$/;

export function encodePem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64');
  let body = '';
  for (let i = 0; i < b64.length; i += 64) body += b64.slice(i, i + 64) + '\n';
  return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`;
}

export function decodePemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const match of text.matchAll(BLOCK)) {
    const [, label, body, endLabel] = match as unknown as [string, string, string, string];
    if (label !== endLabel) throw new PemError(`PEM block "${label}" ends with "${endLabel}"`);
    // RFC 7468 headers ("Proc-Type: …") only occur in legacy encrypted keys, which Reseal never reads.
    if (body.includes(':')) throw new PemError(`PEM block "${label}" has headers (encrypted keys are not supported)`);
    const b64 = body.replace(/\s+/g, '');
    if (b64.length === 0 || b64.length % 4 !== 0 || !BASE64_BODY.test(b64)) {
      throw new PemError(`PEM block "${label}" is not valid base64`);
    }
    blocks.push({ label, der: Buffer.from(b64, 'base64') });
  }
  return blocks;
}

/** Every block of one of the given labels, in order; at least one. */
export function decodePemAll(text: string, labels: readonly string[], what: string): Buffer[] {
  const blocks = decodePemBlocks(text);
  const wrong = blocks.find((b) => !labels.includes(b.label));
  if (wrong) throw new PemError(`${what}: unexpected PEM block "${wrong.label}" (expected ${labels.join(' or ')})`);
  if (blocks.length === 0) throw new PemError(`${what}: no PEM block found (expected ${labels.join(' or ')})`);
  return blocks.map((b) => b.der);
}

/** Exactly one block of one of the given labels. */
export function decodePemOne(text: string, labels: readonly string[], what: string): PemBlock {
  const blocks = decodePemBlocks(text);
  if (blocks.length !== 1) throw new PemError(`${what}: expected one PEM block, found ${blocks.length}`);
  const block = blocks[0]!;
  if (!labels.includes(block.label)) throw new PemError(`${what}: PEM block is "${block.label}", expected ${labels.join(' or ')}`);
  return block;
}
