/**
 * Nesting under fuzzing (issue 14, item 1; decisions/0100): JSON of random
 * shape and depth — objects and arrays mixed, scalars and lone surrogates at
 * the leaves — is accepted as metadata, in the metadata header and as a
 * jcs-sha256 id input exactly when it nests at most `LIMITS.jsonDepth` deep,
 * and canonicalises like RFC 8785 at any depth without throwing.
 */
import canonicalize from 'canonicalize';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jcs } from '../../src/protocol/chain';
import { derivedConversationId } from '../../src/control/ids';
import { LIMITS } from '../../src/protocol/limits';
import { decodeMetadataHeader, isAcceptableMetadata, withinDepth } from '../../src/protocol/validate';
import { RUNS, SEED } from '../fuzz/arbitraries';

/** A value exactly `depth` deep: a spine of objects and arrays, with scalar siblings along it. */
const spine = (maxDepth: number) => fc.record({
  depth: fc.integer({ min: 1, max: maxDepth }),
  steps: fc.array(fc.record({ array: fc.boolean(), key: fc.string({ maxLength: 3 }), sibling: fc.oneof(fc.integer(), fc.string({ maxLength: 4 }), fc.constant(null), fc.boolean()) }), { minLength: 1, maxLength: 8 }),
}).map(({ depth, steps }) => {
  let v: unknown = steps[0].sibling;
  for (let i = 0; i < depth; i++) {
    const s = steps[i % steps.length];
    v = s.array ? [s.sibling, v] : { [s.key]: v, [`${s.key}~`]: s.sibling };
  }
  return { depth, value: v };
});

const b64 = (v: unknown) => btoa(String.fromCharCode(...new TextEncoder().encode(JSON.stringify(v))));

describe('nesting depth under fuzzing', () => {
  it('metadata, the header and id inputs are accepted exactly up to the depth limit', () => {
    fc.assert(
      fc.property(spine(LIMITS.jsonDepth * 2), ({ depth, value }) => {
        expect(withinDepth(value)).toBe(depth <= LIMITS.jsonDepth);
        expect(derivedConversationId(value) !== undefined).toBe(depth <= LIMITS.jsonDepth);
        const meta = { m: value };
        const ok = depth + 1 <= LIMITS.jsonDepth;
        expect(isAcceptableMetadata(meta)).toBe(ok);
        expect(decodeMetadataHeader(b64(meta)) !== undefined).toBe(ok);
      }),
      { seed: SEED, numRuns: RUNS * 2 },
    );
  });

  it('canonicalises like RFC 8785 at depths a recursive writer still manages, and without throwing far beyond', () => {
    fc.assert(
      fc.property(spine(600), ({ value }) => {
        expect(jcs(value)).toBe(canonicalize(value));
      }),
      { seed: SEED, numRuns: Math.max(20, RUNS / 4) },
    );
    fc.assert(
      fc.property(fc.integer({ min: 20_000, max: 60_000 }), (depth) => {
        let v: unknown = 0;
        for (let i = 0; i < depth; i++) v = i % 3 ? [v] : { k: v };
        expect(jcs(v).length).toBeGreaterThan(depth * 2);
      }),
      { seed: SEED, numRuns: 5 },
    );
  });
});
