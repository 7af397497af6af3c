/**
 * The broker's hot path builds a token's canonical text directly and hashes
 * through one reused buffer; these properties hold it to the general
 * definition (JCS text, SHA-256 of previous chain ‖ text) for any token.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GENESIS_CHAIN, canonicalFrame, canonicalToken, chainStep, jcs, nextChain } from '../../src/protocol/chain';
import type { LoggedFrame, TokenFrame } from '../../src/protocol/frames';
import { RUNS, SEED, jsonObjectArb, loneSurrogateString } from '../fuzz/arbitraries';

const text = fc.oneof(fc.string({ unit: 'binary', maxLength: 40 }), loneSurrogateString, fc.string({ minLength: 2_000, maxLength: 3_000 }));

const tokenArb: fc.Arbitrary<TokenFrame> = fc
  .record({
    data: text,
    id: fc.option(fc.oneof(fc.string({ minLength: 1, maxLength: 64 }), loneSurrogateString), { nil: undefined }),
    ref: fc.option(fc.nat(), { nil: undefined }),
    end: fc.option(fc.boolean(), { nil: undefined }),
    seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    stream_name: fc.string({ unit: 'binary', maxLength: 63 }),
    ts: fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  })
  .map(({ id, ref, end, ...rest }) => ({
    type: 'token' as const, stream_id: 'str_01J0000000000000000000000', owner_account_id: 'acc_01J0000000000000000000000', ...rest,
    ...(id !== undefined ? { id } : {}), ...(ref !== undefined ? { ref } : {}), ...(end !== undefined ? { end } : {}),
  }));

const hexOf = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
const fromHex = (h: string) => Uint8Array.from(h.match(/../g)!.map((x) => parseInt(x, 16)));
/** The definition, written the slow and obvious way. */
const reference = (prev: string, canonical: string) => hexOf(sha256(new Uint8Array([...fromHex(prev), ...new TextEncoder().encode(canonical)])));

describe('the chain fast path', () => {
  it('writes a token frame exactly as JCS does, lone surrogates, ids, refs and end markers included', () => {
    fc.assert(fc.property(tokenArb, (f) => {
      expect(canonicalToken(f)).toBe(jcs(f));
      expect(canonicalToken(f)).toBe(canonicalFrame(f));
    }), { seed: SEED, numRuns: RUNS * 5 });
  });

  it('hashes previous chain and canonical text as the definition says, whichever chain it continues', () => {
    const chainArb = fc.uint8Array({ minLength: 32, maxLength: 32 }).map(hexOf);
    const metaArb = jsonObjectArb.map((m): LoggedFrame => ({
      type: 'stream_metadata', stream_id: 's', stream_name: 'n', owner_account_id: 'a', metadata: m as never, ts: '2026-01-01T00:00:00.000Z', seq: 1,
    }));
    // Interleaved chains (a client verifying two conversations) must not leak into each other through the reused buffer.
    fc.assert(fc.property(fc.array(fc.tuple(fc.oneof(chainArb, fc.constant(GENESIS_CHAIN)), fc.oneof(tokenArb, metaArb)), { minLength: 1, maxLength: 8 }), (steps) => {
      for (const [prev, frame] of steps) {
        const want = reference(prev, canonicalFrame(frame));
        expect(nextChain(prev, frame)).toBe(want);
        expect(chainStep(prev, canonicalFrame(frame))).toBe(want);
      }
    }), { seed: SEED, numRuns: RUNS * 2 });
  });

  it('continues a chain over consecutive frames as a fresh computation would', () => {
    fc.assert(fc.property(fc.array(tokenArb, { minLength: 1, maxLength: 20 }), (frames) => {
      let fast = GENESIS_CHAIN;
      let slow = GENESIS_CHAIN;
      for (const f of frames) {
        fast = chainStep(fast, canonicalToken(f));
        slow = reference(slow, jcs(f));
        expect(fast).toBe(slow);
      }
    }), { seed: SEED, numRuns: RUNS });
  });
});
