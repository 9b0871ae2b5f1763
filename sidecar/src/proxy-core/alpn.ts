import { RESEAL_ALPN } from '../identity/tls-identity.js';

/** ALPN `reseal/1` in wire format, converted once instead of per connection. */
export const RESEAL_ALPN_WIRE: Buffer = Buffer.concat([Buffer.from([RESEAL_ALPN.length]), Buffer.from(RESEAL_ALPN, 'latin1')]);

export { RESEAL_ALPN };
