/**
 * Property-based fuzzing of the client-frame parser. Generators build frames
 * from a grammar, each case carrying the verdict the published protocol gives
 * it; arbitrary text and bytes must never throw and always get a documented reason.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CLOSE } from '../../src/protocol/close-codes';
import { exceedsUtf8Bytes, parseClientFrame, utf8Length } from '../../src/protocol/frames';
import { LIMITS } from '../../src/protocol/limits';
import { loneSurrogateString, SEED, jsonObjectArb, RUNS } from '../fuzz/arbitraries';

type Verdict = 'ok' | keyof typeof CLOSE;
interface Case {
  raw: string | ArrayBuffer;
  expected: Verdict;
  /** For accepted frames: what the parser must hand back, field for field. */
  frame?: unknown;
}

const text = fc.string({ unit: 'binary', maxLength: 64 });
const tokenId = fc.string({ unit: 'binary', minLength: 1, maxLength: LIMITS.tokenIdChars });
const ref = fc.integer({ min: 1, max: 2 ** 40 });

const validToken: fc.Arbitrary<Case> = fc
  .record({ data: text, id: tokenId, ref }, { requiredKeys: ['data'] })
  .map((t) => ({ raw: JSON.stringify({ type: 'token', ...t }), expected: 'ok', frame: { type: 'token', ...t } }));

const validMetadata: fc.Arbitrary<Case> = jsonObjectArb.map((metadata) => ({
  raw: JSON.stringify({ type: 'set_metadata', metadata }),
  expected: 'ok',
  frame: { type: 'set_metadata', metadata },
}));

/** Every field of a token frame with a value of the wrong type or out of range. */
const wrongToken: fc.Arbitrary<Case> = fc.oneof(
  fc.record({ data: fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.array(text), fc.dictionary(text, text)) }),
  fc.record({ data: text, id: fc.oneof(fc.constant(''), fc.string({ minLength: LIMITS.tokenIdChars + 1, maxLength: 200 }), fc.integer(), fc.constant(null)) }),
  fc.record({ data: text, ref: fc.oneof(fc.integer({ max: 0 }), fc.double({ noInteger: true, noNaN: true, noDefaultInfinity: true }), fc.constant('1'), fc.constant(null)) }),
).map((t) => ({ raw: JSON.stringify({ type: 'token', ...t }), expected: 'malformed_frame' as const }));

const wrongOther: fc.Arbitrary<Case> = fc.oneof(
  fc.oneof(fc.array(fc.jsonValue()), fc.constant(null), text, fc.integer()).map((metadata) => ({ type: 'set_metadata', metadata })),
  fc.constant({ type: 'set_metadata' }),
  fc.oneof(fc.integer(), fc.constant(null), fc.boolean(), fc.array(text)).map((type) => ({ type, data: 'x' })),
  fc.constant({ data: 'no type' }),
).map((f) => ({ raw: JSON.stringify(f), expected: 'malformed_frame' as const }));

/** Unknown fields are ignored (PROTOCOL.md §4.2): the frame is accepted without them. */
const extraFields: fc.Arbitrary<Case> = fc
  .record({
    frame: fc.oneof(fc.record({ type: fc.constant('token'), data: text }), fc.constant({ type: 'ping' })),
    key: fc.string({ minLength: 1, maxLength: 12 }).filter((k) => !['type', 'data', 'id', 'ref'].includes(k)),
    value: fc.jsonValue({ maxDepth: 1 }),
  })
  .map(({ frame, key, value }) => ({ raw: JSON.stringify({ ...frame, [key]: value }), expected: 'ok' as const, frame }));

/** Type names that exist on Object.prototype must not be mistaken for frame types. */
const unknownType: fc.Arbitrary<Case> = fc
  .oneof(text, fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'Token', 'TOKEN', 'token ', 'pong', 'joined', 'x_receipt'))
  .filter((t) => !['token', 'set_metadata', 'ping'].includes(t))
  .map((type) => ({ raw: JSON.stringify({ type, data: 'x' }), expected: 'unknown_frame_type' as const }));

const notAnObject: fc.Arbitrary<Case> = fc.oneof(
  fc.oneof(fc.integer(), fc.constant(null), fc.boolean(), text, fc.array(fc.jsonValue())).map((v) => JSON.stringify(v)),
  text.filter((s) => {
    try {
      const v = JSON.parse(s);
      return v === null || typeof v !== 'object' || Array.isArray(v);
    } catch {
      return true;
    }
  }),
).map((raw) => ({ raw, expected: 'malformed_frame' as const }));

const binary: fc.Arbitrary<Case> = fc.uint8Array({ maxLength: 64 }).map((b) => ({ raw: b.buffer as ArrayBuffer, expected: 'malformed_frame' as const }));

/** Data just over the byte limit, built from characters of 1–4 UTF-8 bytes, and still under the raw frame cap. */
const tooLarge: fc.Arbitrary<Case> = fc
  .record({ ch: fc.constantFrom('a', 'é', '€', '😀'), extra: fc.integer({ min: 1, max: 8 }) })
  .map(({ ch, extra }) => {
    const per = utf8Length(ch);
    const data = ch.repeat(Math.floor(LIMITS.tokenBytes / per) + extra);
    return { raw: JSON.stringify({ type: 'token', data }), expected: 'token_too_large' as const };
  });

/** Data exactly at the limit is accepted. */
const atLimit: fc.Arbitrary<Case> = fc.constantFrom('a', 'é', '€', '😀').map((ch) => {
  const per = utf8Length(ch);
  const data = ch.repeat(Math.floor(LIMITS.tokenBytes / per)) + 'a'.repeat(LIMITS.tokenBytes % per);
  return { raw: JSON.stringify({ type: 'token', data }), expected: 'ok' as const, frame: { type: 'token', data } };
});

/** Lone surrogates cannot be UTF-8 encoded, so data refuses them; an idempotency key is opaque and keeps them. */
const loneSurrogate: fc.Arbitrary<Case> = fc.oneof(
  loneSurrogateString.map((data) => ({ raw: JSON.stringify({ type: 'token', data }), expected: 'malformed_frame' as const })),
  loneSurrogateString.map((s) => {
    const frame = { type: 'token', data: 'x', id: s.slice(0, LIMITS.tokenIdChars) };
    return { raw: JSON.stringify(frame), expected: 'ok' as const, frame };
  }),
);

const hugeRaw: fc.Arbitrary<Case> = fc.constantFrom('{', ' ', '"').map((ch) => ({ raw: ch.repeat(LIMITS.frameBytes + 1), expected: 'token_too_large' as const }));

describe('parseClientFrame under fuzzing', () => {
  it('gives every generated frame the verdict the protocol names for it', () => {
    fc.assert(
      fc.property(fc.oneof(validToken, validMetadata, extraFields, wrongToken, wrongOther, unknownType, notAnObject, binary, loneSurrogate), (c) => {
        const result = parseClientFrame(c.raw);
        if (c.expected === 'ok') {
          expect(result).toEqual({ ok: true, frame: c.frame });
        } else {
          expect(result).toEqual({ ok: false, reason: c.expected });
        }
      }),
      { seed: SEED, numRuns: RUNS * 4 },
    );
  });

  it('draws the token size line at exactly 65,536 UTF-8 bytes, and refuses raw frames over the frame cap', () => {
    fc.assert(
      fc.property(fc.oneof(tooLarge, atLimit, hugeRaw), (c) => {
        const result = parseClientFrame(c.raw);
        expect(result.ok ? 'ok' : result.reason).toBe(c.expected);
      }),
      { seed: SEED, numRuns: 40 },
    );
  });

  it('never throws on arbitrary text and answers only documented close reasons', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), fc.json().map((j) => j.slice(0, 300)), fc.jsonValue().map((v) => JSON.stringify({ type: 'token', data: v }))), (raw) => {
        const result = parseClientFrame(raw);
        if (!result.ok) expect(Object.keys(CLOSE)).toContain(result.reason);
        else if (result.frame.type === 'token') {
          expect(result.frame.data.isWellFormed()).toBe(true);
          expect(utf8Length(result.frame.data)).toBeLessThanOrEqual(LIMITS.tokenBytes);
        }
      }),
      { seed: SEED, numRuns: RUNS * 4 },
    );
  });

  it('hands set_metadata objects over key for key, including keys named like Object.prototype members', () => {
    fc.assert(
      fc.property(jsonObjectArb, fc.constantFrom('__proto__', 'constructor', 'toString', 'prototype'), fc.jsonValue(), (base, key, value) => {
        const raw = `{"type":"set_metadata","metadata":${JSON.stringify(base).replace(/^\{/, `{${JSON.stringify(key)}:${JSON.stringify(value)}${Object.keys(base).length > 0 ? ',' : ''}`)}}`;
        const result = parseClientFrame(raw);
        expect(result.ok).toBe(true);
        const metadata = (result as { frame: { metadata: object } }).frame.metadata;
        // What the broker will store and broadcast is exactly what the client sent.
        expect(JSON.stringify(metadata)).toBe(JSON.stringify(JSON.parse(raw).metadata));
        expect(Object.getPrototypeOf(metadata)).toBe(Object.prototype);
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });
});

describe('UTF-8 length under fuzzing', () => {
  it('counts exactly what TextEncoder produces for well-formed text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), fc.nat({ max: 800 }), (s, limit) => {
        const bytes = new TextEncoder().encode(s).length;
        expect(utf8Length(s)).toBe(bytes);
        expect(exceedsUtf8Bytes(s, limit)).toBe(bytes > limit);
      }),
      { seed: SEED, numRuns: RUNS * 4 },
    );
  });
});
