/**
 * Property-based fuzzing of the pure parsers behind the connect path and the
 * control plane: magic-link tokens, credentials, the metadata header, cursors,
 * flags and mint bodies. Each either returns a correct result or refuses with
 * its documented error; none throws anything else.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bearerOf, credentialNamespace, newCredential } from '../../src/control/credentials';
import { signLink, verifyLink, type LinkClaims } from '../../src/control/links';
import { parseMintRequest } from '../../src/control/mint';
import { AmsError, type HttpErrorCode } from '../../src/protocol/errors';
import { LIMITS } from '../../src/protocol/limits';
import { ALIAS_RE, NAMESPACE_RE, STREAM_NAME_RE, decodeMetadataHeader, isAcceptableMetadata, parseCursor, parseFlag, withinDepth } from '../../src/protocol/validate';
import { RUNS, SEED, hostileText, jsonObjectArb, loneSurrogateString } from '../fuzz/arbitraries';

const SECRET = 'fuzz-link-secret-of-at-least-32-characters';
const NOW = 1_800_000_000;

const namespaceArb = fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,20}$/);
const convIdArb = fc.stringMatching(/^[0-9A-Z]{26}$/).map((s) => `conv_${s}`);
const claimsArb: fc.Arbitrary<LinkClaims> = fc.record(
  {
    conversation_id: fc.oneof(convIdArb, fc.stringMatching(/^[0-9a-f]{64}$/).map((h) => `conv_${h}`)),
    scope: fc.constantFrom('write' as const, 'read' as const),
    generation: fc.integer({ min: 1, max: 36 ** 8 - 1 }),
    expires_at: fc.integer({ min: NOW + 1, max: NOW + LIMITS.linkMaxLifetimeSeconds }),
  },
  { requiredKeys: ['conversation_id', 'scope', 'generation'] },
);
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.';

function expectCode(fn: () => unknown, code: HttpErrorCode | 'ok'): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AmsError);
    expect((err as AmsError).code).toBe(code);
    return;
  }
  expect('ok').toBe(code);
}

describe('magic-link tokens under fuzzing', () => {
  it('verify to exactly the claims they were signed with, at their own address only', () => {
    fc.assert(
      fc.property(namespaceArb, namespaceArb, claimsArb, namespaceArb, (ns, alias, claims, other) => {
        const t = signLink(SECRET, ns, alias, claims);
        expect(verifyLink(SECRET, ns, alias, t, NOW)).toEqual({ ok: true, claims: { ...claims, expires_at: claims.expires_at } });
        if (other !== alias) expect(verifyLink(SECRET, ns, other, t, NOW).ok).toBe(false);
        if (other !== ns) expect(verifyLink(SECRET, other, alias, t, NOW).ok).toBe(false);
        expect(verifyLink(`${SECRET}!`, ns, alias, t, NOW).ok).toBe(false);
      }),
      { seed: SEED, numRuns: RUNS * 2 },
    );
  });

  it('reject every single-character alteration, including the spare bits of the last tag character', () => {
    fc.assert(
      fc.property(namespaceArb, namespaceArb, claimsArb, fc.nat(), fc.constantFrom(...B64URL), (ns, alias, claims, at, ch) => {
        const t = signLink(SECRET, ns, alias, claims);
        const i = at % t.length;
        const altered = t.slice(0, i) + ch + t.slice(i + 1);
        fc.pre(altered !== t);
        expect(verifyLink(SECRET, ns, alias, altered, NOW).ok).toBe(false);
      }),
      { seed: SEED, numRuns: RUNS * 10 },
    );
  });

  it('reject every other value of the final tag character', () => {
    // Exhaustive where random alteration is thin: 16 bytes in 22 characters leave 4 spare bits.
    const t = signLink(SECRET, 'ns', 'alias', { conversation_id: 'conv_01ARZ3NDEKTSV4RRFFQ69G5FAV', scope: 'write', generation: 1 });
    for (const ch of B64URL) {
      const altered = t.slice(0, -1) + ch;
      if (altered !== t) expect(verifyLink(SECRET, 'ns', 'alias', altered, NOW), `final character ${ch}`).toMatchObject({ ok: false });
    }
  });

  it('stop working the second they expire', () => {
    fc.assert(
      fc.property(claimsArb, fc.integer({ min: 0, max: 10_000 }), (claims, late) => {
        const expires_at = NOW - late;
        const t = signLink(SECRET, 'ns', 'a', { ...claims, expires_at });
        expect(verifyLink(SECRET, 'ns', 'a', t, NOW)).toEqual({ ok: false, why: 'expired' });
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it('never throw and never verify on arbitrary text', () => {
    fc.assert(
      fc.property(fc.oneof(hostileText, fc.string({ unit: 'binary', maxLength: 300 }), fc.array(fc.string({ maxLength: 30 }), { minLength: 4, maxLength: 4 }).map((p) => p.join('.'))), (t) => {
        expect(verifyLink(SECRET, 'ns', 'a', t, NOW).ok).toBe(false);
      }),
      { seed: SEED, numRuns: RUNS * 4 },
    );
  });
});

describe('credentials under fuzzing', () => {
  it('route a fresh credential to its namespace, and nothing malformed to any namespace', () => {
    fc.assert(
      fc.property(namespaceArb, hostileText, (ns, junk) => {
        const credential = newCredential(ns);
        expect(credentialNamespace(credential)).toBe(ns);
        expect(credentialNamespace(credential + junk.replace(/[A-Za-z0-9_-]/g, '') + (junk ? '!' : ''))).toBe(junk ? undefined : ns);
        expect(credentialNamespace(credential.slice(0, -1))).toBeUndefined();
        const found = credentialNamespace(junk);
        if (found !== undefined) expect(NAMESPACE_RE.test(found)).toBe(true);
      }),
      { seed: SEED, numRuns: RUNS * 2 },
    );
  });

  it('read Authorization only as a single bearer token', () => {
    fc.assert(
      fc.property(fc.constantFrom('Bearer', 'bearer', 'BEARER', 'Basic', 'Token', ''), fc.string({ maxLength: 40 }), (scheme, value) => {
        const header = `${scheme} ${value}`;
        const got = bearerOf(header);
        if (got) {
          expect(scheme.toLowerCase()).toBe('bearer');
          expect(got).toBe(value.trim());
          expect(/\s/.test(got)).toBe(false);
        } else if (/^\s*bearer(\s|$)/i.test(header)) {
          expect(got).toBe('');
        } else {
          // Another scheme is no bearer at all: it must not hide a link's t=.
          expect(got).toBeUndefined();
        }
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });
});

function base64Of(text: string, urlSafe: boolean, padded: boolean): string {
  let bin = '';
  for (const b of new TextEncoder().encode(text)) bin += String.fromCharCode(b);
  let out = btoa(bin);
  if (urlSafe) out = out.replace(/\+/g, '-').replace(/\//g, '_');
  return padded ? out : out.replace(/=+$/, '');
}

describe('X-AMS-Stream-Metadata under fuzzing', () => {
  it('decodes any acceptable object from standard or url-safe base64, padded or not, key for key', () => {
    fc.assert(
      fc.property(jsonObjectArb, fc.boolean(), fc.boolean(), (obj, urlSafe, padded) => {
        const decoded = decodeMetadataHeader(base64Of(JSON.stringify(obj), urlSafe, padded));
        expect(JSON.stringify(decoded)).toBe(JSON.stringify(obj));
      }),
      { seed: SEED, numRuns: RUNS * 2 },
    );
  });

  it('refuses what is not base64 of a UTF-8 JSON object within 16 KiB, without throwing', () => {
    const notObject = fc.oneof(fc.jsonValue().filter((v) => v === null || typeof v !== 'object' || Array.isArray(v)).map((v) => base64Of(JSON.stringify(v), false, true)));
    const invalidUtf8 = fc.uint8Array({ minLength: 1, maxLength: 20 }).map((b) => {
      const bytes = Uint8Array.from([0x7b, 0x22, 0xff, ...b, 0x22, 0x3a, 0x31, 0x7d]);
      return btoa(String.fromCharCode(...bytes));
    });
    const tooBig = fc.constant(base64Of(JSON.stringify({ k: 'x'.repeat(LIMITS.metadataBytes) }), false, true));
    fc.assert(
      fc.property(fc.oneof(notObject, invalidUtf8, tooBig), (header) => {
        expect(decodeMetadataHeader(header)).toBeUndefined();
      }),
      { seed: SEED, numRuns: RUNS },
    );
    fc.assert(
      fc.property(fc.oneof(hostileText, fc.string({ unit: 'binary', maxLength: 200 })), (header) => {
        const got = decodeMetadataHeader(header);
        if (got !== undefined) expect(isAcceptableMetadata(got)).toBe(true);
      }),
      { seed: SEED, numRuns: RUNS * 2 },
    );
  });
});

describe('cursors and flags under fuzzing', () => {
  it('read since as a non-negative integer or refuse it', () => {
    fc.assert(
      fc.property(fc.oneof(fc.nat().map(String), fc.bigInt({ min: 0n, max: 10n ** 20n }).map(String), hostileText), (text) => {
        const got = parseCursor(text);
        if (text === '') expect(got).toBeUndefined();
        else if (/^\s*\d{1,15}\s*$/.test(text)) expect(got).toBe(Number(text.trim()));
        else expect(got).toBe('invalid');
      }),
      { seed: SEED, numRuns: RUNS * 2 },
    );
  });

  it('opt in only on true or 1, in any case, around any whitespace', () => {
    fc.assert(
      fc.property(fc.oneof(hostileText, fc.constantFrom('true', 'TRUE', ' True ', '1', 'yes', '0', 'false', 'on')), (text) => {
        expect(parseFlag(text)).toBe(['true', '1'].includes(text.trim().toLowerCase()));
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });
});

/** The verdict the published field rules give a mint body, field by field in the documented order. */
function mintVerdict(body: Record<string, unknown>): HttpErrorCode | 'ok' {
  const { alias, stream_name, metadata, stream_metadata, id_kind, id_input, history } = body;
  if (alias !== undefined && (typeof alias !== 'string' || !ALIAS_RE.test(alias))) return 'invalid_alias';
  if (stream_name !== undefined && (typeof stream_name !== 'string' || !STREAM_NAME_RE.test(stream_name))) return 'invalid_stream_name';
  const objectOk = (m: unknown) => m !== null && typeof m === 'object' && !Array.isArray(m) && withinDepth(m) && new TextEncoder().encode(JSON.stringify(m)).length <= LIMITS.metadataBytes;
  if (metadata !== undefined && !objectOk(metadata)) return 'invalid_metadata';
  if (stream_metadata !== undefined && !objectOk(stream_metadata)) return 'invalid_stream_metadata';
  if (id_kind !== undefined && !['ulid', 'uuid', 'jcs-sha256'].includes(id_kind as string)) return 'unsupported_id_kind';
  if (id_kind === 'jcs-sha256' && id_input === undefined) return 'invalid_id_input';
  if (history !== undefined) {
    if (history === null || typeof history !== 'object' || Array.isArray(history)) return 'invalid_history';
    const h = history as Record<string, unknown>;
    for (const [k, cap] of [['max_frames', LIMITS.historyMaxFramesCap], ['max_age_s', LIMITS.historyMaxAgeSecondsCap]] as const) {
      const v = h[k];
      if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > cap)) return 'invalid_history';
    }
  }
  return 'ok';
}

describe('mint bodies under fuzzing', () => {
  const field = <T>(good: fc.Arbitrary<T>) => fc.oneof({ weight: 3, arbitrary: good }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) }, { weight: 1, arbitrary: hostileText });
  const bodyArb = fc.record(
    {
      alias: field(fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,62}$/)),
      stream_name: field(fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/)),
      metadata: field(jsonObjectArb),
      stream_metadata: field(jsonObjectArb),
      id_kind: field(fc.constantFrom('ulid', 'uuid', 'jcs-sha256')),
      id_input: fc.jsonValue({ maxDepth: 2 }),
      history: field(fc.record({ max_frames: fc.integer({ min: -2, max: LIMITS.historyMaxFramesCap + 2 }), max_age_s: fc.nat({ max: LIMITS.historyMaxAgeSecondsCap + 2 }) }, { requiredKeys: [] })),
      surplus: fc.jsonValue({ maxDepth: 1 }),
    },
    { requiredKeys: [] },
  );

  it('accept exactly the bodies the field rules allow and name the first bad field otherwise', () => {
    fc.assert(
      fc.property(bodyArb, (body) => {
        const verdict = mintVerdict(body);
        expectCode(() => parseMintRequest(body as never), verdict);
        if (verdict === 'ok') {
          const req = parseMintRequest(body as never);
          expect(JSON.stringify(req.metadata)).toBe(JSON.stringify(body.metadata ?? {}));
          expect(JSON.stringify(req.stream_metadata)).toBe(JSON.stringify(body.stream_metadata ?? {}));
          expect(req.history.max_frames === 0).toBe(req.history.max_age_s === 0);
        }
      }),
      { seed: SEED, numRuns: RUNS * 5 },
    );
  });

  it('keep metadata with prototype-named keys exactly as given', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 10 }), fc.constantFrom('__proto__', 'constructor'), (s, key) => {
        const metadata = JSON.parse(`{${JSON.stringify(key)}:${JSON.stringify(s)},"k":1}`);
        const req = parseMintRequest({ metadata, stream_metadata: metadata } as never);
        expect(JSON.stringify(req.metadata)).toBe(JSON.stringify(metadata));
        expect(Object.keys(req.stream_metadata)).toEqual([key, 'k']);
      }),
      { seed: SEED, numRuns: RUNS / 2 },
    );
  });

  it('carry metadata holding a lone surrogate, in a key or a value at any depth, as opaque data', () => {
    fc.assert(
      fc.property(loneSurrogateString, fc.constantFrom('key', 'value', 'nested', 'array'), (s, where) => {
        const meta = where === 'key' ? { [s]: 1 } : where === 'value' ? { k: s } : where === 'nested' ? { a: { b: { c: s } } } : { a: [1, [s]] };
        expect(isAcceptableMetadata(meta)).toBe(true);
        expect(JSON.stringify(parseMintRequest({ metadata: meta, stream_metadata: meta } as never).stream_metadata)).toBe(JSON.stringify(meta));
        // Escaped in the header's JSON, it arrives the same.
        expect(JSON.stringify(decodeMetadataHeader(btoa(JSON.stringify(meta))))).toBe(JSON.stringify(meta));
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });
});
