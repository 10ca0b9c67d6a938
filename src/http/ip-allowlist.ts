import net from 'node:net';

/** A set of client addresses: single IPs and CIDR ranges, IPv4 and IPv6. */
export interface IpAllowlist {
  /** Whether `ip` (as Express's `req.ip` gives it) is in the list; an unknown address is not. */
  allows(ip: string | undefined): boolean;
}

/**
 * Whether `entry` is an IP address (`10.0.0.7`, `::1`) or a CIDR range (`10.0.0.0/8`,
 * `fd00::/8`).
 */
export function isIpRange(entry: string): boolean {
  return parseRange(entry) !== undefined;
}

/**
 * Builds an allowlist from IPs and CIDR ranges (see {@link isIpRange}).
 *
 * @throws {Error} naming the first entry that is neither.
 */
export function createIpAllowlist(entries: readonly string[]): IpAllowlist {
  const list = new net.BlockList();
  for (const entry of entries) {
    const range = parseRange(entry);
    if (!range) throw new Error(`not an IP address or CIDR range: ${entry}`);
    if (range.prefix === undefined) list.addAddress(range.address, range.type);
    else list.addSubnet(range.address, range.prefix, range.type);
  }
  return {
    allows(ip) {
      if (!ip) return false;
      const address = unmapIpv4(ip);
      const family = net.isIP(address);
      if (family === 0) return false;
      return list.check(address, family === 4 ? 'ipv4' : 'ipv6');
    },
  };
}

interface Range {
  address: string;
  prefix: number | undefined;
  type: 'ipv4' | 'ipv6';
}

function parseRange(entry: string): Range | undefined {
  const [address = '', prefixText, extra] = entry.trim().split('/');
  const family = net.isIP(address);
  if (family === 0 || extra !== undefined) return undefined;
  const type = family === 4 ? 'ipv4' : 'ipv6';
  if (prefixText === undefined) return { address, prefix: undefined, type };
  const maxPrefix = family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > maxPrefix) return undefined;
  return { address, prefix: Number(prefixText), type };
}

/**
 * A server listening on `::` sees IPv4 clients as IPv4-mapped IPv6 addresses
 * (`::ffff:127.0.0.1`); they are matched as the IPv4 addresses they are, so that `127.0.0.1`
 * in a list means the same whichever way the server listens.
 */
function unmapIpv4(ip: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  return mapped?.[1] ?? ip;
}
