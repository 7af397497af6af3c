import { describe, expect, it } from 'vitest';
import { Membership, Wire, type Member, type Sink } from '../../src/conversation/audience';
import { filterOf, parseSubscription, checkSubscription, passes, passesJson, streamNameOf } from '../../src/protocol/subscription';

const sink = (): Sink => ({ send: () => {} });
const member = (accountId: string | null, streams?: string[], selfSubscribe = false): Member => ({ sink: sink(), accountId, selfSubscribe, wire: Wire.Json, streams: filterOf(streams) });

describe('subscription filter: parsing', () => {
  it('reads a comma-separated list, spaces around commas allowed, duplicates folded', () => {
    expect(parseSubscription('a,b')).toEqual({ ok: true, streams: ['a', 'b'] });
    expect(parseSubscription(' a , b ,a')).toEqual({ ok: true, streams: ['a', 'b'] });
    expect(parseSubscription('str_0123456789abcdef')).toEqual({ ok: true, streams: ['str_0123456789abcdef'] });
  });

  it('refuses an empty value, an empty entry, an invalid name and more than 64 entries', () => {
    for (const bad of ['', ',', 'a,', ',a', 'a,,b', 'a b', '-a', 'a/b', 'x'.repeat(64), 'ü']) expect(parseSubscription(bad).ok, bad).toBe(false);
    const names = (n: number) => Array.from({ length: n }, (_, i) => `s${i}`);
    expect(parseSubscription(names(64).join(',')).ok).toBe(true);
    expect(parseSubscription(names(65).join(',')).ok).toBe(false);
    // A huge header is cut at 65 entries before any is looked at.
    expect(parseSubscription(names(100_000).join(',')).ok).toBe(false);
  });

  it('checks an MCP array the same way, and refuses non-strings', () => {
    expect(checkSubscription(['a', 'b'])).toEqual({ ok: true, streams: ['a', 'b'] });
    expect(checkSubscription([]).ok).toBe(false);
    expect(checkSubscription(['a', 1]).ok).toBe(false);
    expect(checkSubscription(['a', '']).ok).toBe(false);
  });
});

describe('subscription filter: matching', () => {
  const f = filterOf(['b']);
  it('holds back tokens and metadata of other streams, never joins and leaves', () => {
    expect(passes(f, 'token', 'b')).toBe(true);
    expect(passes(f, 'token', 'a')).toBe(false);
    expect(passes(f, 'stream_metadata', 'a')).toBe(false);
    expect(passes(f, 'stream_joined', 'a')).toBe(true);
    expect(passes(f, 'stream_left', 'a')).toBe(true);
    expect(passes(null, 'token', 'a')).toBe(true);
  });

  it('reads the type and name from a logged frame as the broker writes it, whatever its body holds', () => {
    const token = JSON.stringify({ type: 'token', stream_id: 'str_1', stream_name: 'a', owner_account_id: 'acc', ts: 't', data: '"stream_name":"b"', seq: 1 });
    const meta = JSON.stringify({ type: 'stream_metadata', stream_id: 'str_1', stream_name: 'a', owner_account_id: 'acc', metadata: { stream_name: 'b' }, ts: 't', seq: 2 });
    const left = JSON.stringify({ type: 'stream_left', stream_id: 'str_1', stream_name: 'a', owner_account_id: 'acc', ts: 't', seq: 3 });
    expect(streamNameOf(token)).toBe('a');
    expect(passesJson(f, token)).toBe(false);
    expect(passesJson(f, meta)).toBe(false);
    expect(passesJson(f, left)).toBe(true);
    expect(passesJson(filterOf(['a']), token)).toBe(true);
  });
});

describe('Membership with filters', () => {
  it('a filtered member hears only its streams, and the others hear as before', () => {
    const m = new Membership();
    const all = member('x');
    const onlyB = member('y', ['b']);
    m.add(all);
    m.add(onlyB);
    expect(m.filtered).toBe(true);
    expect(m.audienceFor('owner-a', 'token', 'a')[Wire.Json]).toEqual([all.sink]);
    expect(m.audienceFor('owner-b', 'token', 'b')[Wire.Json]).toEqual([all.sink, onlyB.sink]);
    // Joins and leaves of any stream reach everyone.
    expect(m.audienceFor('owner-a', 'stream_joined', 'a')[Wire.Json]).toEqual([all.sink, onlyB.sink]);
    m.remove(onlyB);
    expect(m.filtered).toBe(false);
    expect(m.audienceFor('owner-b', 'token', 'b')[Wire.Json]).toEqual([all.sink]);
  });

  it('a filter never widens: self-exclusion holds for a stream the filter names', () => {
    const m = new Membership();
    const own = member('a', ['mine']);
    const echo = member('a', ['mine'], true);
    m.add(own);
    m.add(echo);
    expect(m.audienceFor('a', 'token', 'mine')[Wire.Json]).toEqual([echo.sink]);
  });

  it('without a filter anywhere, the audience is the owner audience itself (the same cached object)', () => {
    const m = new Membership();
    m.add(member('x'));
    expect(m.audienceFor('a', 'token', 'a')).toBe(m.audienceOf('a'));
  });
});
