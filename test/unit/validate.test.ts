/** Shared validation: names, metadata, the metadata header, flags and cursors. */
import { describe, expect, it } from 'vitest';
import { LIMITS } from '../../src/protocol/limits';
import {
  ALIAS_RE, EPOCH_RE, NAMESPACE_RE, STREAM_NAME_RE, decodeMetadataHeader, isAcceptableMetadata, isJsonObject, parseCursor, parseFlag,
} from '../../src/protocol/validate';

const utf8 = (s: string) => new TextEncoder().encode(s).length;
const b64 = (s: string) => btoa(String.fromCharCode(...new TextEncoder().encode(s)));

describe('namespace and alias', () => {
  it('accept ^[a-z0-9][a-z0-9-]{0,62}$', () => {
    for (const ok of ['a', '0', 'a-b', 'demo-9421', 'a'.repeat(63), '9-', 'a--b']) {
      expect(NAMESPACE_RE.test(ok), ok).toBe(true);
      expect(ALIAS_RE.test(ok), ok).toBe(true);
    }
  });

  it('refuse everything else', () => {
    for (const bad of ['', '-a', 'A', 'a_b', 'a.b', 'a b', 'a/b', 'a'.repeat(64), 'caf\u00e9', 'a\n', '\na']) {
      expect(NAMESPACE_RE.test(bad), JSON.stringify(bad)).toBe(false);
    }
  });
});

describe('stream names', () => {
  it('accept ^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$', () => {
    for (const ok of ['a', 'Z', '9', 'Planner.v2_main-1', 'S'.repeat(63), 'a..', 'a__']) expect(STREAM_NAME_RE.test(ok), ok).toBe(true);
  });

  it('refuse everything else', () => {
    for (const bad of ['', '.a', '_a', '-a', 'a b', 'a/b', 'S'.repeat(64), 'caf\u00e9', 'a\n']) {
      expect(STREAM_NAME_RE.test(bad), JSON.stringify(bad)).toBe(false);
    }
  });
});

describe('isJsonObject', () => {
  it('is true for plain objects only', () => {
    expect(isJsonObject({})).toBe(true);
    expect(isJsonObject({ a: [1] })).toBe(true);
    for (const v of [null, [], [{}], 'x', 1, true, undefined]) expect(isJsonObject(v), String(v)).toBe(false);
  });
});

describe('isAcceptableMetadata', () => {
  it('accepts an object up to exactly 16 KiB serialized, and refuses one byte more', () => {
    const base = utf8(JSON.stringify({ k: '' }));
    expect(isAcceptableMetadata({ k: 'x'.repeat(LIMITS.metadataBytes - base) })).toBe(true);
    expect(isAcceptableMetadata({ k: 'x'.repeat(LIMITS.metadataBytes - base + 1) })).toBe(false);
  });

  it('measures UTF-8 bytes, not UTF-16 units', () => {
    const base = utf8(JSON.stringify({ k: '' }));
    const n = Math.floor((LIMITS.metadataBytes - base) / 3) + 1;
    expect(isAcceptableMetadata({ k: '\u20ac'.repeat(n) })).toBe(false);
    expect(isAcceptableMetadata({ k: '\u20ac'.repeat(n - 1) })).toBe(true);
  });

  it('refuses non-objects', () => {
    for (const v of [null, [], 'x', 1, true]) expect(isAcceptableMetadata(v)).toBe(false);
  });

  it('carries a lone surrogate as opaque data: JSON escapes it, so it round-trips', () => {
    const meta = { k: 'a\ud800b' };
    expect(isAcceptableMetadata(meta)).toBe(true);
    expect(JSON.parse(JSON.stringify(meta))).toEqual(meta);
  });
});

describe('decodeMetadataHeader', () => {
  it('decodes standard and url-safe base64 of a UTF-8 JSON object, padded or not', () => {
    const obj = { role: 'planner', name: 'caf\u00e9 \u{1F680}', n: [1, 2] };
    const std = b64(JSON.stringify(obj));
    expect(decodeMetadataHeader(std)).toEqual(obj);
    expect(decodeMetadataHeader(std.replace(/=+$/, ''))).toEqual(obj);
    expect(decodeMetadataHeader(std.replace(/\+/g, '-').replace(/\//g, '_'))).toEqual(obj);
  });

  it('refuses non-base64, non-JSON, non-objects, invalid UTF-8 and oversized metadata', () => {
    expect(decodeMetadataHeader('***')).toBeUndefined();
    expect(decodeMetadataHeader(b64('not json'))).toBeUndefined();
    expect(decodeMetadataHeader(b64('[1,2]'))).toBeUndefined();
    expect(decodeMetadataHeader(b64('"str"'))).toBeUndefined();
    expect(decodeMetadataHeader(btoa('{"k":"\xff"}'))).toBeUndefined();
    expect(decodeMetadataHeader(b64(JSON.stringify({ k: 'x'.repeat(LIMITS.metadataBytes) })))).toBeUndefined();
  });
});

describe('parseFlag', () => {
  it('is true only for true or 1, in any case and with spaces', () => {
    for (const v of ['true', 'TRUE', 'True', '1', ' true ']) expect(parseFlag(v), v).toBe(true);
    for (const v of [null, undefined, '', 'false', '0', 'yes', 'on', '2', 'truex']) expect(parseFlag(v), String(v)).toBe(false);
  });
});

describe('parseCursor', () => {
  it('is undefined when absent, a number for digits, invalid otherwise', () => {
    expect(parseCursor(null)).toBeUndefined();
    expect(parseCursor(undefined)).toBeUndefined();
    expect(parseCursor('')).toBeUndefined();
    expect(parseCursor('0')).toBe(0);
    expect(parseCursor('42')).toBe(42);
    expect(parseCursor('999999999999999')).toBe(999_999_999_999_999);
    for (const bad of ['-1', '1.5', 'abc', '1e3', '0x10', '9999999999999999']) expect(parseCursor(bad), bad).toBe('invalid');
  });
});

describe('EPOCH_RE', () => {
  it('accepts url-safe epochs of 1 to 64 characters', () => {
    expect(EPOCH_RE.test('01jz8k3m4n5p6q7r8s9t0vwxyz')).toBe(true);
    expect(EPOCH_RE.test('')).toBe(false);
    expect(EPOCH_RE.test('a'.repeat(65))).toBe(false);
    expect(EPOCH_RE.test('a b')).toBe(false);
  });
});
