// The control plane's own memory of what it signed, for the status page: bounded, newest
// first, public facts only (no key material exists here to begin with).

export interface IssuedCertificateRecord {
  readonly spiffeId: string;
  /** Upper-case hex. */
  readonly serial: string;
  readonly issuedAt: Date;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export class IssuedCertificateLog {
  private readonly records: IssuedCertificateRecord[] = [];
  private issuedTotal = 0;

  constructor(private readonly capacity = 200) {}

  record(spiffeId: string, issued: { serial: string; notBefore: Date; notAfter: Date }, now = new Date()): void {
    this.records.unshift({ spiffeId, serial: issued.serial, issuedAt: now, notBefore: issued.notBefore, notAfter: issued.notAfter });
    if (this.records.length > this.capacity) this.records.length = this.capacity;
    this.issuedTotal += 1;
  }

  /** Newest first. */
  recent(): readonly IssuedCertificateRecord[] {
    return this.records;
  }

  /** Every certificate issued since start, including those the bound has dropped. */
  get total(): number {
    return this.issuedTotal;
  }
}
