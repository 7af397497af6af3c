/** Identifiers: prefixed ULIDs, readable aliases, default stream names, derived (jcs-sha256) conversation ids. */
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { derivedConversationId, newAccountId, newAlias, newConversationId, newEpoch, newStreamId, newStreamName } from '../../src/control/ids';
import { ALIAS_RE, STREAM_NAME_RE } from '../../src/protocol/validate';

const ULID = '[0-9A-HJKMNP-TV-Z]{26}';
const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const sha = (text: string) => hex(sha256(new TextEncoder().encode(text)));

describe('prefixed ULIDs', () => {
  it('are acc_, conv_ and str_ followed by a ULID', () => {
    expect(newAccountId()).toMatch(new RegExp(`^acc_${ULID}$`));
    expect(newConversationId()).toMatch(new RegExp(`^conv_${ULID}$`));
    expect(newStreamId()).toMatch(new RegExp(`^str_${ULID}$`));
  });

  it('never repeat', () => {
    const ids = Array.from({ length: 5000 }, newStreamId);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('make an epoch that is a lower-case ULID', () => {
    expect(newEpoch()).toMatch(/^[0-9a-hjkmnp-tv-z]{26}$/);
    expect(newEpoch()).not.toBe(newEpoch());
  });
});

describe('newAlias', () => {
  it('is adjective-noun-4 digits and always a valid alias', () => {
    for (let i = 0; i < 2000; i++) {
      const alias = newAlias();
      expect(alias).toMatch(/^[a-z]+-[a-z]+-\d{4}$/);
      expect(alias).toMatch(ALIAS_RE);
    }
  });

  it('varies enough that collisions are rare', () => {
    const aliases = Array.from({ length: 200 }, newAlias);
    expect(new Set(aliases).size).toBeGreaterThan(190);
  });
});

describe('newStreamName', () => {
  it('is stream- and 6 url-safe characters, always a valid stream name', () => {
    for (let i = 0; i < 2000; i++) {
      const name = newStreamName();
      expect(name).toMatch(/^stream-[A-Za-z0-9_-]{6}$/);
      expect(name).toMatch(STREAM_NAME_RE);
    }
  });
});

describe('derivedConversationId', () => {
  it('is conv_ + hex(sha256(JCS(input))), checked against hand-written canonical text', () => {
    expect(derivedConversationId({ b: 2, a: [1, 'x', null, true] })).toBe(`conv_${sha('{"a":[1,"x",null,true],"b":2}')}`);
    expect(derivedConversationId('hello')).toBe(`conv_${sha('"hello"')}`);
    expect(derivedConversationId(1e21)).toBe(`conv_${sha('1e+21')}`);
    expect(derivedConversationId({ n: 1.0, m: 0.5 })).toBe(`conv_${sha('{"m":0.5,"n":1}')}`);
    expect(derivedConversationId({ '\u00e9': 'caf\u00e9' })).toBe(`conv_${sha('{"\u00e9":"caf\u00e9"}')}`);
  });

  it('does not depend on key order or whitespace of the input', () => {
    const a = derivedConversationId(JSON.parse('{ "x": 1, "y": { "b": [1,2], "a": null } }'));
    const b = derivedConversationId(JSON.parse('{"y":{"a":null,"b":[1,2]},"x":1}'));
    expect(a).toBe(b);
  });

  it('differs for different inputs', () => {
    expect(derivedConversationId({ a: 1 })).not.toBe(derivedConversationId({ a: 2 }));
    expect(derivedConversationId([1, 2])).not.toBe(derivedConversationId([2, 1]));
    expect(derivedConversationId('1')).not.toBe(derivedConversationId(1));
  });

  it('is undefined for input JCS cannot express (a lone surrogate, undefined)', () => {
    expect(derivedConversationId('\ud800')).toBeUndefined();
    expect(derivedConversationId({ k: 'a\udc00' })).toBeUndefined();
    expect(derivedConversationId(undefined)).toBeUndefined();
  });
});
