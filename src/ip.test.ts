import { isIpOrCidr } from './ip';

describe('isIpOrCidr', () => {
  it.each(['10.1.2.3', '0.0.0.0', '255.255.255.255', '10.0.0.0/8', '192.168.1.0/24', '1.2.3.4/32'])(
    'accepts IPv4 %s',
    (v) => expect(isIpOrCidr(v)).toBe(true)
  );
  it.each(['::1', '2001:db8::/32', 'fe80::1', '::ffff:10.1.2.3', '2001:0db8:0000:0000:0000:ff00:0042:8329', '::/0'])(
    'accepts IPv6 %s',
    (v) => expect(isIpOrCidr(v)).toBe(true)
  );
  it('accepts template variables', () => expect(isIpOrCidr('$ip')).toBe(true));
  it.each(['256.1.1.1', '10.0.0.0/33', '1.2.3', 'abc', '2001:db8::/129', '1::2::3', '10.0.0.1/', 'host.example'])(
    'rejects %s',
    (v) => expect(isIpOrCidr(v)).toBe(false)
  );
});
