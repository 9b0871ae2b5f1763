import { parseCidr as parseSharedCidr } from '@reseal/core';

/**
 * The same reading as reseal-init's --skip-outbound-cidrs (both use @reseal/core's), checked
 * at admission so that the init container never fails on the annotation. Returns the
 * canonical text.
 */
export function parseCidr(text: string): string {
  return parseSharedCidr(text).cidr;
}
