/**
 * Shared fast-check generators and the run settings of every fuzz test.
 * The seed is fixed so a failure is reproducible; `AMS_FUZZ_SEED` and
 * `AMS_FUZZ_RUNS` widen a run by hand (the unit tests read them; workerd
 * tests use the defaults).
 */
import fc from 'fast-check';

const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env ?? {};

export const SEED = Number(env.AMS_FUZZ_SEED ?? 20260702);
export const RUNS = Number(env.AMS_FUZZ_RUNS ?? 100);

/** A JSON object as a client would send it (keys and values of any text, nested a little). */
export const jsonObjectArb: fc.Arbitrary<Record<string, unknown>> = fc.dictionary(
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.jsonValue({ maxDepth: 2 }),
  { maxKeys: 6 },
) as fc.Arbitrary<Record<string, unknown>>;

/** Text holding at least one unpaired UTF-16 surrogate (not representable in UTF-8). */
export const loneSurrogateString: fc.Arbitrary<string> = fc
  .record({
    before: fc.string({ maxLength: 8 }),
    lone: fc.oneof(fc.integer({ min: 0xd800, max: 0xdbff }), fc.integer({ min: 0xdc00, max: 0xdfff })),
    after: fc.string({ maxLength: 8 }),
  })
  .map(({ before, lone, after }) => `${before}${String.fromCharCode(lone)}${lone <= 0xdbff ? 'x' : ''}${after}`);

/** Strings that look like the things a hostile client tries: markup, control bytes, path tricks, huge numbers. */
export const hostileText: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom(
    '<script>alert(1)</script>', '"><img src=x onerror=alert(1)>', "'; DROP TABLE log; --", '../../etc/passwd', '%00', '\u0000',
    '\r\nX-Injected: 1', '__proto__', 'constructor', '9'.repeat(400), '-1', '1e400', 'NaN', 'null', '{}', '[]', ' ', '',
    '\u202e', '\ufeff', 'ams_sk_', 'Bearer', 'conv_', '😀'.repeat(20),
  ),
);

/** A seeded PRNG (mulberry32) for scenario choices outside fast-check. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
