import { AsnConvert } from '@peculiar/asn1-schema';
import { AttributeTypeAndValue, AttributeValue, Name, RelativeDistinguishedName } from '@peculiar/asn1-x509';

export interface DistinguishedName {
  readonly organization?: string;
  readonly organizationalUnit?: string;
  readonly commonName?: string;
}

const ATTRIBUTE_OIDS = { organization: '2.5.4.10', organizationalUnit: '2.5.4.11', commonName: '2.5.4.3' } as const;

/** DER Name with one attribute per RDN, in O, OU, CN order, as UTF8String (RFC 5280 §4.1.2.6). */
export function encodeName(name: DistinguishedName): Buffer {
  const rdns: RelativeDistinguishedName[] = [];
  for (const field of ['organization', 'organizationalUnit', 'commonName'] as const) {
    const value = name[field];
    if (value === undefined) continue;
    rdns.push(new RelativeDistinguishedName([new AttributeTypeAndValue({ type: ATTRIBUTE_OIDS[field], value: new AttributeValue({ utf8String: value }) })]));
  }
  return Buffer.from(AsnConvert.serialize(new Name(rdns)));
}
