import { describe, expect, it } from 'vitest';
import { exceedsUtf8Bytes, parseClientFrame, utf8Length } from '../../src/protocol/frames';

describe('parseClientFrame', () => {
  it('accepts the three client frames and ignores unknown fields', () => {
    expect(parseClientFrame('{"type":"token","data":"hi","id":"k1","ref":3,"x":1}')).toEqual({ ok: true, frame: { type: 'token', data: 'hi', id: 'k1', ref: 3 } });
    expect(parseClientFrame('{"type":"set_metadata","metadata":{"a":[1]}}')).toEqual({ ok: true, frame: { type: 'set_metadata', metadata: { a: [1] } } });
    expect(parseClientFrame('{"type":"ping"}')).toEqual({ ok: true, frame: { type: 'ping' } });
  });
  it.each([
    ['{', 'malformed_frame'], ['null', 'malformed_frame'], ['"token"', 'malformed_frame'], ['[]', 'malformed_frame'],
    ['{"type":1}', 'malformed_frame'], ['{"type":"token"}', 'malformed_frame'], ['{"type":"token","data":null}', 'malformed_frame'],
    ['{"type":"token","data":"x","ref":0}', 'malformed_frame'], ['{"type":"token","data":"x","ref":1.5}', 'malformed_frame'],
    ['{"type":"token","data":"x","id":""}', 'malformed_frame'], ['{"type":"set_metadata","metadata":"x"}', 'malformed_frame'],
    ['{"type":"set_metadata","metadata":null}', 'malformed_frame'], ['{"type":"set_metadata","metadata":[]}', 'malformed_frame'],
    ['{"type":"toString"}', 'unknown_frame_type'], ['{"type":"__proto__"}', 'unknown_frame_type'], ['{"type":"Token","data":"x"}', 'unknown_frame_type'],
    ['{"type":"token","data":"\\udc00x"}', 'malformed_frame'],
  ])('%s → %s', (raw, reason) => {
    expect(parseClientFrame(raw)).toEqual({ ok: false, reason });
  });
  it('rejects binary messages and measures token size in UTF-8 bytes', () => {
    expect(parseClientFrame(new ArrayBuffer(2))).toEqual({ ok: false, reason: 'malformed_frame' });
    expect(parseClientFrame(JSON.stringify({ type: 'token', data: '€'.repeat(21_845) + 'a' }))).toMatchObject({ ok: true });
    expect(parseClientFrame(JSON.stringify({ type: 'token', data: '€'.repeat(21_846) }))).toEqual({ ok: false, reason: 'token_too_large' });
  });
  it('counts UTF-8 bytes exactly, surrogate pairs as four', () => {
    expect(utf8Length('a€😀')).toBe(1 + 3 + 4);
    expect(exceedsUtf8Bytes('😀'.repeat(16_384), 65_536)).toBe(false);
    expect(exceedsUtf8Bytes('😀'.repeat(16_384) + 'a', 65_536)).toBe(true);
  });
});
