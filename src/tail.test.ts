import { base64UrlEncode, compactFilters, MAX_CHANNEL_LENGTH, tailChannelFits, tailPath } from './tail';
import { emptyFilters } from './types';

function decodeKey(path: string): unknown {
  expect(path.startsWith('tail/')).toBe(true);
  const key = path.slice('tail/'.length);
  return JSON.parse(Buffer.from(key, 'base64url').toString('utf8'));
}

describe('tail path', () => {
  it('is just "tail" without filters', () => {
    expect(tailPath(undefined)).toBe('tail');
    expect(tailPath(emptyFilters())).toBe('tail');
    expect(tailPath({ actions: [], search: '' })).toBe('tail');
  });

  it('encodes the set filters as base64url JSON', () => {
    const path = tailPath({ ...emptyFilters(), actions: ['login', 'logout'], search: 'bob' });
    expect(decodeKey(path)).toEqual({ actions: ['login', 'logout'], search: 'bob' });
    // exactly what Go's base64.RawURLEncoding gives for the same JSON
    expect(path).toBe('tail/' + Buffer.from('{"actions":["login","logout"],"search":"bob"}').toString('base64url'));
  });

  it('uses the URL alphabet without padding', () => {
    // standard base64 of this text is "w7vDv8K/w7s+w7vDuw==": it has "+", "/" and padding
    const text = 'ûÿ¿û>ûû';
    expect(Buffer.from(text, 'utf8').toString('base64')).toBe('w7vDv8K/w7s+w7vDuw==');
    const key = base64UrlEncode(text);
    expect(key).toBe('w7vDv8K_w7s-w7vDuw');
    expect(key).not.toMatch(/[+/=]/);
    expect(Buffer.from(key, 'base64url').toString('utf8')).toBe(text);
    expect(key).toBe(Buffer.from(text, 'utf8').toString('base64url'));
  });

  it('keeps non-ASCII text (UTF-8)', () => {
    expect(decodeKey(tailPath({ search: 'Zürich ✓', users: ['josé'] }))).toEqual({
      users: ['josé'],
      search: 'Zürich ✓',
    });
  });

  it('writes the JSON the way Go does, escaping <, > and &', () => {
    const path = tailPath({ search: '<a> & b\u2028' });
    const json = Buffer.from(path.slice('tail/'.length), 'base64url').toString('utf8');
    expect(json).toBe('{"search":"\\u003ca\\u003e \\u0026 b\\u2028"}');
    expect(JSON.parse(json)).toEqual({ search: '<a> & b\u2028' });
  });

  it('gives the same key whatever the order of the keys', () => {
    const a = tailPath({ search: 's', countries: ['DE'], actions: ['login'], eventId: 'e1' });
    const b = tailPath({ eventId: 'e1', actions: ['login'], countries: ['DE'], search: 's' });
    expect(a).toBe(b);
    expect(Object.keys(compactFilters({ search: 's', countries: ['DE'], actions: ['login'] }))).toEqual([
      'actions',
      'countries',
      'search',
    ]);
  });

  it('only yields characters Grafana Live allows in a channel path', () => {
    const path = tailPath({ clientIps: ['10.0.0.0/8', '2001:db8::/32'], apps: ['a b', 'ü'] });
    expect(path).toMatch(/^[A-Za-z0-9_\-/=.]+$/);
  });

  it('tells whether the channel fits in 160 characters', () => {
    expect(tailChannelFits('uid', 'tail')).toBe(true);
    const path = 'tail/' + 'x'.repeat(MAX_CHANNEL_LENGTH - 'ds/uid/tail/'.length);
    expect(tailChannelFits('uid', path)).toBe(true);
    expect(tailChannelFits('uid', path + 'x')).toBe(false);
  });
});
