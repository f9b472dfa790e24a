const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

function isIPv4(s: string): boolean {
  return IPV4.test(s);
}

function isIPv6(s: string): boolean {
  if (!/^[0-9a-fA-F:.]+$/.test(s) || !s.includes(':')) {
    return false;
  }
  let groups = s.split(':');
  // An embedded IPv4 address (::ffff:1.2.3.4) counts as two groups.
  const last = groups[groups.length - 1];
  if (last.includes('.')) {
    if (!isIPv4(last)) {
      return false;
    }
    groups = [...groups.slice(0, -1), '0', '0'];
  }
  const doubleColons = s.split('::').length - 1;
  if (doubleColons > 1) {
    return false;
  }
  if (doubleColons === 0) {
    return groups.length === 8 && groups.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g));
  }
  const nonEmpty = groups.filter((g) => g !== '');
  return nonEmpty.length <= 7 && nonEmpty.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g));
}

/**
 * Whether s is an IPv4/IPv6 address or CIDR range, or holds a template
 * variable (checked only after interpolation, by the backend).
 */
export function isIpOrCidr(s: string): boolean {
  const v = s.trim();
  if (v.includes('$')) {
    return true;
  }
  const slash = v.indexOf('/');
  const addr = slash < 0 ? v : v.slice(0, slash);
  const bits = slash < 0 ? undefined : v.slice(slash + 1);
  const v4 = isIPv4(addr);
  if (!v4 && !isIPv6(addr)) {
    return false;
  }
  if (bits === undefined) {
    return true;
  }
  if (!/^\d{1,3}$/.test(bits)) {
    return false;
  }
  return Number(bits) <= (v4 ? 32 : 128);
}
