/**
 * Property-based tests of MCP resume keys: a key verifies to exactly what it
 * was signed with, and no other string does — not one character changed, not
 * the spare bits of the tag's last character, not a key of another secret.
 */
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { signResumeKey, verifyResumeKey, type ResumeClaims } from '../../src/mcp/resume-key';
import { RUNS, SEED, hostileText } from '../fuzz/arbitraries';

const SECRET = 'fuzz-resume-secret-of-at-least-32-chars';
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.';

const claimsArb: fc.Arbitrary<ResumeClaims> = fc.record({
  ns: fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,20}$/),
  alias: fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,20}$/),
  conversation_id: fc.stringMatching(/^conv_[0-9A-Z]{26}$/),
  member_id: fc.oneof(fc.stringMatching(/^str_[0-9A-Z]{26}$/), fc.stringMatching(/^obs_[0-9A-Z]{26}$/)),
  account_id: fc.option(fc.stringMatching(/^acc_[0-9A-Z]{26}$/), { nil: null }),
  generation: fc.integer({ min: 1, max: 1_000_000 }),
});

it('verifies a resume key to exactly the claims it was signed with', () => {
  fc.assert(
    fc.property(claimsArb, (c) => {
      expect(verifyResumeKey(SECRET, signResumeKey(SECRET, c))).toEqual(c);
      expect(verifyResumeKey(`${SECRET}x`, signResumeKey(SECRET, c))).toBeUndefined();
    }),
    { seed: SEED, numRuns: RUNS },
  );
});

it('refuses every single-character alteration of a resume key, the spare bits of the tag included', () => {
  fc.assert(
    fc.property(claimsArb, fc.nat(), fc.constantFrom(...B64URL), (c, at, ch) => {
      const key = signResumeKey(SECRET, c);
      const i = at % key.length;
      const altered = key.slice(0, i) + ch + key.slice(i + 1);
      fc.pre(altered !== key);
      expect(verifyResumeKey(SECRET, altered)).toBeUndefined();
    }),
    { seed: SEED, numRuns: RUNS * 10 },
  );
  const key = signResumeKey(SECRET, { ns: 'n', alias: 'a', conversation_id: 'conv_01ARZ3NDEKTSV4RRFFQ69G5FAV', member_id: 'str_01ARZ3NDEKTSV4RRFFQ69G5FAV', account_id: null, generation: 1 });
  for (const ch of B64URL) {
    const altered = key.slice(0, -1) + ch;
    if (altered !== key) expect(verifyResumeKey(SECRET, altered), `final character ${ch}`).toBeUndefined();
  }
});

it('never throws on arbitrary text', () => {
  fc.assert(
    fc.property(fc.oneof(hostileText, fc.string({ unit: 'binary', maxLength: 700 }), fc.string().map((s) => `amsrk_${s}`)), (s) => {
      expect(verifyResumeKey(SECRET, s)).toBeUndefined();
    }),
    { seed: SEED, numRuns: RUNS * 4 },
  );
});
