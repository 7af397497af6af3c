/** Reading control-plane bodies: content types, size caps (declared and streamed), UTF-8, JSON objects. */
import { describe, expect, it } from 'vitest';
import { mediaType, readJsonObject, readText } from '../../src/http/body';
import { AmsError } from '../../src/protocol/errors';

const post = (body: BodyInit | null, headers: Record<string, string> = {}) =>
  new Request('https://ams.test/x', { method: 'POST', body, headers, ...(body instanceof ReadableStream ? { duplex: 'half' } : {}) } as RequestInit);

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    expect(err).toBeInstanceOf(AmsError);
    return (err as AmsError).code;
  }
}

function streamOf(chunks: number, size: number): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(c) {
      if (sent++ >= chunks) return c.close();
      c.enqueue(new Uint8Array(size).fill(0x20));
    },
  });
}

describe('mediaType', () => {
  it('is the lower-cased type without parameters, or empty', () => {
    expect(mediaType(post('{}', { 'content-type': 'Application/JSON; charset=UTF-8' }))).toBe('application/json');
    expect(mediaType(new Request('https://ams.test/x'))).toBe('');
  });
});

describe('readText', () => {
  it('returns the body up to the cap', async () => {
    expect(await readText(post('x'.repeat(10)), 10)).toBe('x'.repeat(10));
    expect(await readText(new Request('https://ams.test/x'), 10)).toBe('');
  });

  it('refuses a declared Content-Length over the cap without reading', async () => {
    // The body itself is small: only the declaration can trip the cap.
    expect(await codeOf(readText(post('x', { 'content-length': '11' }), 10))).toBe('body_too_large');
  });

  it('refuses an undeclared body over the cap', async () => {
    expect(await codeOf(readText(post('x'.repeat(11)), 10))).toBe('body_too_large');
  });

  it('refuses a streamed body over the cap as it arrives', async () => {
    expect(await codeOf(readText(post(streamOf(4, 10)), 35))).toBe('body_too_large');
    expect(await readText(post(streamOf(3, 10)), 30)).toHaveLength(30);
  });

  it('refuses bytes that are not UTF-8 with invalid_json', async () => {
    expect(await codeOf(readText(post(new Uint8Array([0x22, 0xc3, 0x28, 0x22])), 100))).toBe('invalid_json');
  });
});

describe('readJsonObject', () => {
  it('returns the object for application/json, +json types, or no content type', async () => {
    expect(await readJsonObject(post('{"a":1}', { 'content-type': 'application/json' }), 100, false)).toEqual({ a: 1 });
    expect(await readJsonObject(post('{"a":1}', { 'content-type': 'application/merge-patch+json' }), 100, false)).toEqual({ a: 1 });
    expect(await readJsonObject(post(new TextEncoder().encode('{"a":1}')), 100, false)).toEqual({ a: 1 });
  });

  it('refuses other content types with unsupported_media_type, before reading', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'text/json-ish', 'application/jsonx']) {
      expect(await codeOf(readJsonObject(post('{}', { 'content-type': type }), 100, true)), type).toBe('unsupported_media_type');
    }
  });

  it('treats an empty or blank body as {} only where allowed', async () => {
    const json = { 'content-type': 'application/json' };
    expect(await readJsonObject(post('', json), 100, true)).toEqual({});
    expect(await readJsonObject(post(' \n\t', json), 100, true)).toEqual({});
    expect(await readJsonObject(new Request('https://ams.test/x', { method: 'POST' }), 100, true)).toEqual({});
    expect(await codeOf(readJsonObject(post('', json), 100, false))).toBe('invalid_json');
  });

  it('refuses anything but a JSON object with invalid_json', async () => {
    for (const text of ['nope', '{', '[]', '[{}]', '1', '"s"', 'null', 'true', '{"a":1}x']) {
      expect(await codeOf(readJsonObject(post(text, { 'content-type': 'application/json' }), 100, true)), text).toBe('invalid_json');
    }
  });

  it('refuses an oversized body with body_too_large', async () => {
    expect(await codeOf(readJsonObject(post(`{"a":"${'x'.repeat(100)}"}`, { 'content-type': 'application/json' }), 100, true))).toBe('body_too_large');
  });
});
