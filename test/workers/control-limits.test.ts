/** The §7 limits of the control plane at their exact boundaries: request bodies 64 KiB, metadata 16 KiB. */
import { beforeAll, describe, expect, it } from 'vitest';
import { LIMITS } from '../../src/protocol/limits';
import { bearer, expectError, inspectPath, jsonCall, mint, mintRaw, newAccount, uniqueName, type Account } from './control-helpers';

const utf8 = (s: string) => new TextEncoder().encode(s).length;

/** A JSON object text of exactly `bytes` UTF-8 bytes: `{...fields, "pad": "xxx…"}`. */
function bodyOfSize(bytes: number, fields: Record<string, unknown>): string {
  const base = JSON.stringify({ ...fields, pad: '' });
  const text = JSON.stringify({ ...fields, pad: 'x'.repeat(bytes - utf8(base)) });
  expect(utf8(text)).toBe(bytes);
  return text;
}

/** A metadata object whose JSON serialization is exactly `bytes` UTF-8 bytes. */
function metadataOfSize(bytes: number, filler = 'x'): Record<string, string> {
  const base = utf8(JSON.stringify({ blob: '' }));
  const value = filler.repeat(Math.floor((bytes - base) / utf8(filler)));
  const meta = { blob: value + 'x'.repeat(bytes - base - utf8(value)) };
  expect(utf8(JSON.stringify(meta))).toBe(bytes);
  return meta;
}

let owner: Account;
beforeAll(async () => {
  owner = await newAccount('limits');
});

describe('request bodies are capped at 64 KiB', () => {
  it('declares the cap as 64 KiB', () => {
    expect(LIMITS.controlBodyBytes).toBe(64 * 1024);
  });

  it('accepts an account body of exactly 64 KiB and refuses one byte more with 413 body_too_large', async () => {
    expect((await jsonCall('POST', '/v1/accounts', bodyOfSize(LIMITS.controlBodyBytes, { namespace: uniqueName('edge') }))).status).toBe(201);
    const namespace = uniqueName('over');
    await expectError(await jsonCall('POST', '/v1/accounts', bodyOfSize(LIMITS.controlBodyBytes + 1, { namespace })), 413, 'body_too_large');
    expect((await jsonCall('POST', '/v1/accounts', { namespace })).status).toBe(201);
  });

  it('accepts a mint body of exactly 64 KiB and refuses one byte more with 413 body_too_large', async () => {
    expect((await mintRaw(owner, bodyOfSize(LIMITS.controlBodyBytes, {}))).status).toBe(201);
    const alias = uniqueName('over');
    await expectError(await mintRaw(owner, bodyOfSize(LIMITS.controlBodyBytes + 1, { alias })), 413, 'body_too_large');
    expect((await mint(owner, { alias })).alias).toBe(alias);
  });

  it('refuses a links body over 64 KiB with 413 body_too_large', async () => {
    const m = await mint(owner);
    const res = await jsonCall('POST', `${inspectPath(owner.namespace, m.alias)}/links`, bodyOfSize(LIMITS.controlBodyBytes + 1, { scope: 'read' }), bearer(owner.credential));
    await expectError(res, 413, 'body_too_large');
  });

  it('refuses a body far over the cap (1 MiB) with 413 body_too_large', async () => {
    await expectError(await mintRaw(owner, bodyOfSize(1024 * 1024, {})), 413, 'body_too_large');
  });
});

describe('metadata is capped at 16 KiB of serialized JSON', () => {
  it('declares the cap as 16 KiB', () => {
    expect(LIMITS.metadataBytes).toBe(16 * 1024);
  });

  it('accepts metadata and stream_metadata of exactly 16 KiB, unchanged', async () => {
    const meta = metadataOfSize(LIMITS.metadataBytes);
    const m = await mint(owner, { metadata: meta, stream_metadata: meta });
    expect(m.metadata).toEqual(meta);
    expect(m.stream_metadata).toEqual(meta);
  });

  it('refuses metadata one byte over with 400 invalid_metadata', async () => {
    await expectError(await mintRaw(owner, { metadata: metadataOfSize(LIMITS.metadataBytes + 1) }), 400, 'invalid_metadata');
  });

  it('refuses stream_metadata one byte over with 400 invalid_stream_metadata', async () => {
    await expectError(await mintRaw(owner, { stream_metadata: metadataOfSize(LIMITS.metadataBytes + 1) }), 400, 'invalid_stream_metadata');
  });

  it('counts UTF-8 bytes, not characters', async () => {
    const meta = metadataOfSize(LIMITS.metadataBytes + 3, '\u20ac');
    expect(JSON.stringify(meta).length).toBeLessThan(LIMITS.metadataBytes);
    await expectError(await mintRaw(owner, { metadata: meta }), 400, 'invalid_metadata');
    const fits = metadataOfSize(LIMITS.metadataBytes, '\u20ac');
    expect((await mintRaw(owner, { metadata: fits })).status).toBe(201);
  });
});
