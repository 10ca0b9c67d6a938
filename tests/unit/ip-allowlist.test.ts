import { createIpAllowlist, isIpRange } from '../../src/http/ip-allowlist';

describe('IP allowlist', () => {
  it.each(['10.0.0.7', '10.0.0.0/8', '0.0.0.0/0', '::1', 'fd00::/8', '::/0', '2001:db8::1/128'])(
    'accepts %s as an IP or CIDR range',
    (entry) => expect(isIpRange(entry)).toBe(true),
  );

  it.each(['', 'localhost', '10.0.0.0/33', '::1/129', '10.0.0/8', '10.0.0.0/8/1', '10.0.0.0/x'])(
    'rejects %p',
    (entry) => expect(isIpRange(entry)).toBe(false),
  );

  it('matches single addresses and ranges, IPv4 and IPv6', () => {
    const list = createIpAllowlist(['10.0.0.0/8', '192.168.1.5', 'fd00::/8']);
    expect(list.allows('10.20.30.40')).toBe(true);
    expect(list.allows('192.168.1.5')).toBe(true);
    expect(list.allows('fd12::1')).toBe(true);
    expect(list.allows('192.168.1.6')).toBe(false);
    expect(list.allows('11.0.0.1')).toBe(false);
    expect(list.allows('fe80::1')).toBe(false);
  });

  it('matches an IPv4-mapped IPv6 address (a server listening on ::) as its IPv4 address', () => {
    const list = createIpAllowlist(['127.0.0.0/8']);
    expect(list.allows('::ffff:127.0.0.1')).toBe(true);
    expect(list.allows('::ffff:10.0.0.1')).toBe(false);
  });

  it('allows no unknown or malformed address', () => {
    const list = createIpAllowlist(['0.0.0.0/0', '::/0']);
    expect(list.allows(undefined)).toBe(false);
    expect(list.allows('')).toBe(false);
    expect(list.allows('unknown')).toBe(false);
  });

  it('refuses to build from an invalid entry, naming it', () => {
    expect(() => createIpAllowlist(['10.0.0.0/8', 'intranet'])).toThrow(/intranet/);
  });
});
