// Just enough of the pcap format (Ethernet, IPv4, TCP) to see what crossed a link: the mesh
// tests prove with it that no plaintext crosses a pod's link.
export interface TcpSegment {
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  seq: number;
  payload: Buffer;
}

export function readPcapTcp(file: Buffer): TcpSegment[] {
  if (file.length < 24) return [];
  const magic = file.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  if (!le && file.readUInt32BE(0) !== 0xa1b2c3d4 && file.readUInt32BE(0) !== 0xa1b23c4d) throw new Error('not a pcap file');
  const u32 = (offset: number): number => (le ? file.readUInt32LE(offset) : file.readUInt32BE(offset));
  const linkType = u32(20);
  if (linkType !== 1) throw new Error(`pcap link type ${linkType}, expected Ethernet`);
  const segments: TcpSegment[] = [];
  let offset = 24;
  while (offset + 16 <= file.length) {
    const captured = u32(offset + 8);
    const frame = file.subarray(offset + 16, offset + 16 + captured);
    offset += 16 + captured;
    if (frame.length < 14 || frame.readUInt16BE(12) !== 0x0800) continue;
    const ip = frame.subarray(14);
    const ihl = (ip[0]! & 0x0f) * 4;
    if (ip[9] !== 6) continue;
    const total = ip.readUInt16BE(2);
    const tcp = ip.subarray(ihl, total);
    const dataOffset = (tcp[12]! >> 4) * 4;
    segments.push({
      src: ip.subarray(12, 16).join('.'),
      dst: ip.subarray(16, 20).join('.'),
      srcPort: tcp.readUInt16BE(0),
      dstPort: tcp.readUInt16BE(2),
      seq: tcp.readUInt32BE(4),
      payload: Buffer.from(tcp.subarray(dataOffset)),
    });
  }
  return segments;
}

/** Orders one direction's segments by sequence number and drops retransmitted bytes. */
export function reassemble(segments: readonly TcpSegment[]): Buffer {
  const withData = segments.filter((s) => s.payload.length > 0).sort((a, b) => a.seq - b.seq);
  const parts: Buffer[] = [];
  let next: number | undefined;
  for (const s of withData) {
    if (next === undefined) next = s.seq;
    if (s.seq + s.payload.length <= next) continue;
    parts.push(s.payload.subarray(Math.max(0, next - s.seq)));
    next = s.seq + s.payload.length;
  }
  return Buffer.concat(parts);
}

/** Walks a byte stream as TLS records; returns the record types, or throws at the first non-record. */
export function tlsRecordTypes(stream: Buffer): number[] {
  const types: number[] = [];
  let offset = 0;
  while (offset < stream.length) {
    if (offset + 5 > stream.length) throw new Error(`truncated TLS record header at ${offset}`);
    const type = stream[offset]!;
    const version = stream.readUInt16BE(offset + 1);
    const length = stream.readUInt16BE(offset + 3);
    if (type < 0x14 || type > 0x17 || (version !== 0x0303 && version !== 0x0301) || length > 16384 + 256) {
      throw new Error(`not a TLS record at ${offset}: ${stream.subarray(offset, offset + 16).toString('hex')}`);
    }
    types.push(type);
    offset += 5 + length;
  }
  return types;
}
