/** `POST /v1/{ns}/conversations`: the success shape, defaults, and every field's validation error. */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  ORIGIN, bearer, call, expectError, inspectPath, jsonCall, mint, mintRaw, newAccount, tokenOf, uniqueName, type Account,
} from './control-helpers';

const ULID = '[0-9A-HJKMNP-TV-Z]{26}';
const ALIAS_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;

let owner: Account;
let other: Account;
beforeAll(async () => {
  owner = await newAccount('minter');
  other = await newAccount('stranger');
});

describe('minting succeeds', () => {
  it('answers 201 with every documented field', async () => {
    const res = await mintRaw(owner, {});
    expect(res.status).toBe(201);
    const body = (await res.json()) as Record<string, unknown>;
    for (const key of ['conversation_id', 'alias', 'magic_link', 'observer_link', 'stream_id', 'stream_name', 'metadata', 'stream_metadata', 'created_at']) {
      expect(body, key).toHaveProperty(key);
    }
    expect(body.conversation_id).toMatch(new RegExp(`^conv_${ULID}$`));
    expect(body.stream_id).toMatch(new RegExp(`^str_${ULID}$`));
    expect(body.metadata).toEqual({});
    expect(body.stream_metadata).toEqual({});
    expect(new Date(body.created_at as string).toISOString()).toBe(body.created_at);
  });

  it('gives links of the form {origin}/{ns}/conversations/{alias}?t={token}, write and read distinct', async () => {
    const m = await mint(owner);
    const prefix = `${ORIGIN}/${owner.namespace}/conversations/${m.alias}?t=`;
    expect(m.magic_link.startsWith(prefix)).toBe(true);
    expect(m.observer_link.startsWith(prefix)).toBe(true);
    expect(tokenOf(m.magic_link)).not.toBe(tokenOf(m.observer_link));
    expect(tokenOf(m.magic_link)).toMatch(/^[A-Za-z0-9._-]+$/);
  });

  it('takes the link host from the request', async () => {
    const res = await call(`http://other-host.example:8080/v1/${owner.namespace}/conversations`, {
      method: 'POST', headers: { ...bearer(owner.credential), 'content-type': 'application/json' }, body: '{}',
    });
    expect(res.status).toBe(201);
    const m = (await res.json()) as { magic_link: string; observer_link: string; alias: string };
    expect(m.magic_link.startsWith(`http://other-host.example:8080/${owner.namespace}/conversations/${m.alias}?t=`)).toBe(true);
    expect(m.observer_link.startsWith('http://other-host.example:8080/')).toBe(true);
  });

  it('treats an absent body as {}', async () => {
    const res = await call(`/v1/${owner.namespace}/conversations`, { method: 'POST', headers: bearer(owner.credential) });
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ metadata: {}, stream_metadata: {} });
  });

  it('treats an empty JSON body as {}', async () => {
    expect((await jsonCall('POST', `/v1/${owner.namespace}/conversations`, '', bearer(owner.credential))).status).toBe(201);
    expect((await jsonCall('POST', `/v1/${owner.namespace}/conversations`, ' \n', bearer(owner.credential))).status).toBe(201);
  });

  it('generates a readable alias like falcon-pulse-9421 when none is given', async () => {
    for (let i = 0; i < 5; i++) {
      const { alias } = await mint(owner);
      expect(alias).toMatch(/^[a-z]+-[a-z]+-\d{4}$/);
      expect(alias).toMatch(ALIAS_RE);
    }
  });

  it('uses an explicit alias and stream name', async () => {
    const alias = uniqueName('chosen');
    const m = await mint(owner, { alias, stream_name: 'Planner.v2_main-1' });
    expect(m.alias).toBe(alias);
    expect(m.stream_name).toBe('Planner.v2_main-1');
  });

  it('defaults the stream name to stream- and 6 url-safe characters', async () => {
    const { stream_name } = await mint(owner);
    expect(stream_name).toMatch(/^stream-[A-Za-z0-9_-]{6}$/);
  });

  it('returns metadata and stream_metadata exactly as given, never modified', async () => {
    const metadata = { title: 'Plan \u00e9t\u00e9 \u{1F680}', nested: { list: [1, 2.5, -0.001, null, true, 'x'], empty: {} }, z: 1, a: 2 };
    const stream_metadata = { role: 'planner', n: 12345678901234, deep: [[{ k: 'v' }]] };
    const m = await mint(owner, { metadata, stream_metadata });
    expect(JSON.stringify(m.metadata)).toBe(JSON.stringify(metadata));
    expect(JSON.stringify(m.stream_metadata)).toBe(JSON.stringify(stream_metadata));
    const inspected = (await (await call(inspectPath(owner.namespace, m.alias), { headers: bearer(owner.credential) })).json()) as {
      metadata: unknown; streams: { metadata: unknown }[];
    };
    expect(JSON.stringify(inspected.metadata)).toBe(JSON.stringify(metadata));
    expect(JSON.stringify(inspected.streams[0].metadata)).toBe(JSON.stringify(stream_metadata));
  });

  it('accepts id_kind "ulid" and "uuid" (the default, under its old name) and mints ULID ids', async () => {
    for (const id_kind of ['ulid', 'uuid']) {
      const m = await mint(owner, { id_kind });
      expect(m.conversation_id).toMatch(new RegExp(`^conv_${ULID}$`));
    }
  });

  it('accepts history settings and reports them back', async () => {
    const m = await mint(owner, { history: { max_frames: 500, max_age_s: 3600 } });
    expect(m.history).toMatchObject({ max_frames: 500, max_age_s: 3600 });
  });

  it('gives every conversation its own id, stream id and alias', async () => {
    const a = await mint(owner);
    const b = await mint(owner);
    expect(a.conversation_id).not.toBe(b.conversation_id);
    expect(a.stream_id).not.toBe(b.stream_id);
    expect(a.alias).not.toBe(b.alias);
  });
});

describe('minting needs the namespace owner', () => {
  it('answers 401 missing_credential without Authorization', async () => {
    await expectError(await jsonCall('POST', `/v1/${owner.namespace}/conversations`, {}), 401, 'missing_credential');
  });

  it('answers 401 before looking at the body', async () => {
    await expectError(await jsonCall('POST', `/v1/${owner.namespace}/conversations`, '[not json'), 401, 'missing_credential');
  });

  it('answers 401 invalid_credential for a malformed bearer', async () => {
    for (const credential of ['nope', 'ams_sk_', `ams_sk_${owner.namespace}`, `ams_sk_${owner.namespace}.short`, owner.credential + 'x']) {
      await expectError(await jsonCall('POST', `/v1/${owner.namespace}/conversations`, {}, bearer(credential)), 401, 'invalid_credential');
    }
  });

  it('answers 401 for a non-bearer Authorization scheme', async () => {
    const res = await jsonCall('POST', `/v1/${owner.namespace}/conversations`, {}, { authorization: `Basic ${btoa('a:b')}` });
    expect(res.status).toBe(401);
    expect(['missing_credential', 'invalid_credential']).toContain(((await res.json()) as { error: string }).error);
  });

  it('answers 401 invalid_credential for a well-formed credential of a namespace with no account', async () => {
    const ghost = uniqueName('ghost');
    const credential = `ams_sk_${ghost}.${'A'.repeat(43)}`;
    await expectError(await jsonCall('POST', `/v1/${ghost}/conversations`, {}, bearer(credential)), 401, 'invalid_credential');
  });

  it('answers 403 namespace_mismatch for a valid credential of another namespace', async () => {
    await expectError(await mintRaw({ ...other, namespace: owner.namespace }), 403, 'namespace_mismatch');
  });

  it('answers 403 namespace_mismatch for a path namespace that cannot exist', async () => {
    await expectError(await jsonCall('POST', '/v1/Not_A_Namespace/conversations', {}, bearer(owner.credential)), 403, 'namespace_mismatch');
  });
});

describe('minting rejects each bad field with its own code', () => {
  const cases: [string, unknown, string][] = [
    ['a numeric alias', { alias: 7 }, 'invalid_alias'],
    ['a null alias', { alias: null }, 'invalid_alias'],
    ['an empty alias', { alias: '' }, 'invalid_alias'],
    ['an upper-case alias', { alias: 'Room' }, 'invalid_alias'],
    ['an alias with a slash', { alias: 'a/b' }, 'invalid_alias'],
    ['an alias starting with a hyphen', { alias: '-room' }, 'invalid_alias'],
    ['a 64-character alias', { alias: 'a'.repeat(64) }, 'invalid_alias'],
    ['a numeric stream_name', { stream_name: 3 }, 'invalid_stream_name'],
    ['an empty stream_name', { stream_name: '' }, 'invalid_stream_name'],
    ['a stream_name starting with a dot', { stream_name: '.hidden' }, 'invalid_stream_name'],
    ['a stream_name with a space', { stream_name: 'my stream' }, 'invalid_stream_name'],
    ['a 64-character stream_name', { stream_name: 'S'.repeat(64) }, 'invalid_stream_name'],
    ['string metadata', { metadata: 'hello' }, 'invalid_metadata'],
    ['array metadata', { metadata: [1, 2] }, 'invalid_metadata'],
    ['null metadata', { metadata: null }, 'invalid_metadata'],
    ['numeric metadata', { metadata: 5 }, 'invalid_metadata'],
    ['metadata over 16 KiB', { metadata: { blob: 'x'.repeat(16 * 1024) } }, 'invalid_metadata'],
    ['string stream_metadata', { stream_metadata: 'hello' }, 'invalid_stream_metadata'],
    ['array stream_metadata', { stream_metadata: [] }, 'invalid_stream_metadata'],
    ['boolean stream_metadata', { stream_metadata: true }, 'invalid_stream_metadata'],
    ['stream_metadata over 16 KiB', { stream_metadata: { blob: 'x'.repeat(16 * 1024) } }, 'invalid_stream_metadata'],
    ['an unknown id_kind', { id_kind: 'sha1' }, 'unsupported_id_kind'],
    ['a numeric id_kind', { id_kind: 1 }, 'unsupported_id_kind'],
    ['an upper-case id_kind', { id_kind: 'ULID' }, 'unsupported_id_kind'],
    ['jcs-sha256 without id_input', { id_kind: 'jcs-sha256' }, 'invalid_id_input'],
    ['jcs-sha256 with a lone surrogate in id_input', { id_kind: 'jcs-sha256', id_input: { k: '\ud800' } }, 'invalid_id_input'],
    ['a string history', { history: 'forever' }, 'invalid_history'],
    ['an array history', { history: [100] }, 'invalid_history'],
    ['a negative history.max_frames', { history: { max_frames: -1 } }, 'invalid_history'],
    ['a fractional history.max_age_s', { history: { max_age_s: 1.5 } }, 'invalid_history'],
    ['a string history.max_frames', { history: { max_frames: '10' } }, 'invalid_history'],
    ['a history.max_frames over the cap', { history: { max_frames: 1_000_001 } }, 'invalid_history'],
    ['a history.max_age_s over the cap', { history: { max_age_s: 30 * 24 * 3600 + 1 } }, 'invalid_history'],
  ];
  for (const [what, body, code] of cases) {
    it(`rejects ${what} with 400 ${code}`, async () => {
      await expectError(await mintRaw(owner, body), 400, code);
    });
  }

  it('rejects a body that is not a JSON object with 400 invalid_json', async () => {
    for (const body of ['nope', '[]', '[{}]', '"x"', '12', 'null']) {
      await expectError(await mintRaw(owner, body), 400, 'invalid_json');
    }
  });

  it('rejects a non-JSON content type with 415 unsupported_media_type', async () => {
    const res = await call(`/v1/${owner.namespace}/conversations`, {
      method: 'POST', headers: { ...bearer(owner.credential), 'content-type': 'text/plain' }, body: '{}',
    });
    await expectError(res, 415, 'unsupported_media_type');
  });

  it('rejects a body over 64 KiB with 413 body_too_large', async () => {
    await expectError(await mintRaw(owner, { metadata: {}, pad: 'y'.repeat(65 * 1024) }), 413, 'body_too_large');
  });

  it('leaves nothing behind when a field is rejected: the alias stays free', async () => {
    const alias = uniqueName('clean');
    await expectError(await mintRaw(owner, { alias, metadata: [] }), 400, 'invalid_metadata');
    await expectError(await mintRaw(owner, { alias, history: -1 }), 400, 'invalid_history');
    await expectError(await call(inspectPath(owner.namespace, alias), { headers: bearer(owner.credential) }), 404, 'conversation_not_found');
    expect((await mint(owner, { alias })).alias).toBe(alias);
  });
});

describe('aliases are unique within a namespace', () => {
  it('answers 409 alias_taken for an alias in use, and the first conversation is untouched', async () => {
    const alias = uniqueName('dup');
    const first = await mint(owner, { alias, stream_name: 'first' });
    await expectError(await mintRaw(owner, { alias, stream_name: 'second' }), 409, 'alias_taken');
    const inspected = (await (await call(inspectPath(owner.namespace, alias), { headers: bearer(owner.credential) })).json()) as {
      conversation_id: string; streams: { stream_name: string }[];
    };
    expect(inspected.conversation_id).toBe(first.conversation_id);
    expect(inspected.streams.map((s) => s.stream_name)).toEqual(['first']);
  });

  it('lets two namespaces use the same alias', async () => {
    const alias = uniqueName('shared');
    const a = await mint(owner, { alias });
    const b = await mint(other, { alias });
    expect(a.conversation_id).not.toBe(b.conversation_id);
  });
});
