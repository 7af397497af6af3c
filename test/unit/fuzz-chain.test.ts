/**
 * Property-based tests of the hash chain's canonical form: it is RFC 8785 for
 * every well-formed JSON value, total over what the broker accepts (metadata
 * and ids with lone surrogates included), and any altered, missing or
 * reordered frame breaks verification at exactly that frame.
 */
import canonicalize from 'canonicalize';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { verifyChain } from '../../src/client/chain';
import { GENESIS_CHAIN, canonicalFrame, jcs, nextChain } from '../../src/protocol/chain';
import type { LoggedFrame } from '../../src/protocol/frames';
import { RUNS, SEED, jsonObjectArb, loneSurrogateString } from '../fuzz/arbitraries';

const frameArb = (seq: number, metadata: fc.Arbitrary<Record<string, unknown>>, id: fc.Arbitrary<string>): fc.Arbitrary<LoggedFrame> =>
  fc.oneof(
    fc.record({ data: fc.string({ unit: 'binary', maxLength: 20 }), id: fc.option(id, { nil: undefined }) }).map(({ data, id: i }) => ({
      type: 'token' as const, stream_id: 'str_1', stream_name: 's', owner_account_id: 'acc_1', ts: '2026-01-01T00:00:00.000Z', data, seq, ...(i !== undefined ? { id: i } : {}),
    })),
    metadata.map((m) => ({ type: 'stream_metadata' as const, stream_id: 'str_1', stream_name: 's', owner_account_id: 'acc_1', metadata: m as never, ts: '2026-01-01T00:00:00.000Z', seq })),
  );

const framesArb = (metadata: fc.Arbitrary<Record<string, unknown>>, id: fc.Arbitrary<string>) =>
  fc.integer({ min: 1, max: 12 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => frameArb(i + 1, metadata, id))));

describe('the hash chain under fuzzing', () => {
  it('hashes RFC 8785 text for every well-formed JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        expect(jcs(v)).toBe(canonicalize(v));
      }),
      { seed: SEED, numRuns: RUNS * 5 },
    );
  });

  it('hashes frames whose metadata or id holds a lone surrogate instead of failing the append', () => {
    const loneMeta = loneSurrogateString.map((s) => ({ [s]: s, nested: [s] }));
    fc.assert(
      fc.property(framesArb(fc.oneof(jsonObjectArb, loneMeta), fc.oneof(fc.string({ minLength: 1 }), loneSurrogateString)), (frames) => {
        let head = GENESIS_CHAIN;
        const chained = frames.map((f) => {
          head = nextChain(head, f);
          return { ...f, chain: head };
        });
        expect(/^[0-9a-f]{64}$/.test(head)).toBe(true);
        for (const f of frames) expect(canonicalFrame(f).isWellFormed()).toBe(true);
        expect(verifyChain(chained).ok).toBe(true);
      }),
      { seed: SEED, numRuns: RUNS * 2 },
    );
  });

  it('breaks verification at exactly the frame that was altered, dropped or moved', () => {
    fc.assert(
      fc.property(framesArb(jsonObjectArb, fc.string({ minLength: 1 })), fc.nat(), fc.constantFrom('alter', 'drop', 'swap'), (frames, pick, how) => {
        let head = GENESIS_CHAIN;
        const chained = frames.map((f) => {
          head = nextChain(head, f);
          return { ...f, chain: head };
        });
        const i = pick % chained.length;
        const copy = chained.map((f) => ({ ...f }));
        if (how === 'alter') {
          copy[i] = { ...copy[i], ts: '2026-01-01T00:00:00.001Z' };
          expect(verifyChain(copy)).toMatchObject({ ok: false, brokenAt: i + 1 });
        } else if (how === 'drop') {
          fc.pre(i < copy.length - 1);
          copy.splice(i, 1);
          expect(verifyChain(copy)).toMatchObject({ ok: false, brokenAt: i + 1 });
        } else {
          fc.pre(i < copy.length - 1);
          // Swapping the seq numbers of two neighbours keeps the sequence contiguous; the chain still catches it.
          const a = copy[i];
          const b = copy[i + 1];
          copy[i] = { ...b, seq: a.seq };
          copy[i + 1] = { ...a, seq: b.seq };
          expect(verifyChain(copy)).toMatchObject({ ok: false, brokenAt: i + 1 });
        }
      }),
      { seed: SEED, numRuns: RUNS * 2 },
    );
  });
});
