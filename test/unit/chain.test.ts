import canonicalize from 'canonicalize';
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { GENESIS_CHAIN, canonicalFrame, nextChain, withChain } from '../../src/protocol/chain';
import { verifyChain } from '../../src/client/chain';
import type { LoggedFrame } from '../../src/protocol/frames';

const frame = (seq: number, data: string): LoggedFrame => ({
  type: 'token', stream_id: 'str_1', stream_name: 'a', owner_account_id: 'acc_1', ts: '2026-01-01T00:00:00.000Z', data, seq,
});

function hex(bytes: Uint8Array) {
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
}

describe('hash chain', () => {
  it('is SHA-256 over the previous chain bytes and the JCS text of the frame', () => {
    const f = frame(1, 'hi');
    const prev = new Uint8Array(32);
    const body = new TextEncoder().encode(canonicalize(f) as string);
    const expected = hex(sha256(new Uint8Array([...prev, ...body])));
    expect(nextChain(GENESIS_CHAIN, f)).toBe(expected);
  });

  it('ignores a chain field already on the frame and sorts keys', () => {
    const f = { ...frame(1, 'x'), chain: 'ff' } as unknown as LoggedFrame;
    expect(canonicalFrame(f)).toBe('{"data":"x","owner_account_id":"acc_1","seq":1,"stream_id":"str_1","stream_name":"a","ts":"2026-01-01T00:00:00.000Z","type":"token"}');
  });

  it('adds chain to serialized JSON without re-serializing', () => {
    expect(JSON.parse(withChain('{"a":1}', 'abc'))).toEqual({ a: 1, chain: 'abc' });
  });

  it('verifyChain accepts the broker chain and detects an altered, missing or reordered frame', () => {
    const frames = [frame(1, 'a'), frame(2, 'b'), frame(3, 'c')];
    let c = GENESIS_CHAIN;
    const sent = frames.map((f) => ({ ...f, chain: (c = nextChain(c, f)) }));
    expect(verifyChain(sent)).toEqual({ ok: true, head: c });
    expect(verifyChain(sent.map((f) => (f.seq === 2 ? { ...f, data: 'B' } : f)))).toMatchObject({ ok: false, brokenAt: 2 });
    expect(verifyChain([sent[0], sent[2]])).toMatchObject({ ok: false, brokenAt: 2 });
    expect(verifyChain([sent[0], { ...sent[2], seq: 2 }, { ...sent[1], seq: 3 }])).toMatchObject({ ok: false });
    expect(verifyChain(sent.slice(1), { seq: 1, chain: sent[0].chain })).toEqual({ ok: true, head: c });
  });
});
