import { describe, expect, it } from 'vitest';
import { Membership, Wire, type Member, type Sink } from '../../src/conversation/audience';
import { TokenBucket } from '../../src/conversation/rate';

const sink = (): Sink & { got: string[] } => {
  const got: string[] = [];
  return { got, send: (t) => got.push(t) };
};
const member = (accountId: string | null, wire = Wire.Json, selfSubscribe = false): Member => ({ sink: sink(), accountId, selfSubscribe, wire });

describe('Membership: structural self-exclusion', () => {
  it('an owner is absent from its own audience; others and observers are present', () => {
    const m = new Membership();
    const a1 = member('a');
    const a2 = member('a');
    const b = member('b');
    const obs = member(null, Wire.SseChain);
    [a1, a2, b, obs].forEach((x) => m.add(x));
    const aud = m.audienceOf('a');
    expect(aud[Wire.Json]).toEqual([b.sink]);
    expect(aud[Wire.SseChain]).toEqual([obs.sink]);
    expect(m.audienceOf('b')[Wire.Json]).toEqual([a1.sink, a2.sink]);
  });

  it('self-subscribers are in their own audience', () => {
    const m = new Membership();
    const echo = member('a', Wire.JsonChain, true);
    m.add(echo);
    expect(m.audienceOf('a')[Wire.JsonChain]).toEqual([echo.sink]);
  });

  it('rebuilds audiences when membership changes', () => {
    const m = new Membership();
    const b = member('b');
    m.add(b);
    expect(m.audienceOf('a')[Wire.Json]).toHaveLength(1);
    m.remove(b);
    expect(m.audienceOf('a')[Wire.Json]).toHaveLength(0);
    expect(Membership.hears({ accountId: 'a', selfSubscribe: false }, 'a')).toBe(false);
    expect(Membership.hears({ accountId: null, selfSubscribe: false }, 'a')).toBe(true);
  });
});

describe('TokenBucket', () => {
  it('allows a burst, then refills at the rate, and takes nothing when it cannot take all', () => {
    const b = new TokenBucket(1000, 2000, 0);
    expect(b.take(2000, 0)).toBe(true);
    expect(b.take(1, 0)).toBe(false);
    expect(b.take(500, 500)).toBe(true);
    expect(b.take(1, 500)).toBe(false);
    expect(b.take(600, 1000)).toBe(false);
    expect(b.take(500, 1000)).toBe(true);
    expect(b.take(5000, 100_000)).toBe(false);
    expect(b.take(2000, 100_000)).toBe(true);
  });
});
