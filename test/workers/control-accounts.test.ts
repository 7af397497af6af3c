/** `POST /v1/accounts`: the success shape and every documented error. */
import { describe, expect, it } from 'vitest';
import { call, expectError, jsonCall, uniqueName } from './control-helpers';

function base64UrlBytes(text: string): Uint8Array {
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const bin = atob(b64.padEnd(Math.ceil(b64.length / 4) * 4, '='));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

describe('POST /v1/accounts succeeds', () => {
  it('answers 201 with account_id, namespace, credential and created_at, and nothing else', async () => {
    const namespace = uniqueName('shape');
    const before = Date.now();
    const res = await jsonCall('POST', '/v1/accounts', { namespace });
    expect(res.status).toBe(201);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const body = (await res.json()) as Record<string, string>;
    expect(Object.keys(body).sort()).toEqual(['account_id', 'created_at', 'credential', 'namespace']);
    expect(body.namespace).toBe(namespace);
    expect(body.account_id).toMatch(/^acc_[0-9A-HJKMNP-TV-Z]{26}$/);
    const created = Date.parse(body.created_at);
    expect(new Date(created).toISOString()).toBe(body.created_at);
    expect(created).toBeGreaterThanOrEqual(before - 1000);
  });

  it('issues a credential ams_sk_{namespace}.{43 base64url chars} carrying 32 random bytes', async () => {
    const namespace = uniqueName('cred');
    const { credential } = (await (await jsonCall('POST', '/v1/accounts', { namespace })).json()) as { credential: string };
    const m = new RegExp(`^ams_sk_${namespace}\\.([A-Za-z0-9_-]{43})$`).exec(credential);
    expect(m, credential).not.toBeNull();
    expect(base64UrlBytes(m![1]).length).toBe(32);
  });

  it('never issues the same credential secret twice across many accounts', async () => {
    const secrets = new Set<string>();
    const results = await Promise.all(Array.from({ length: 20 }, () => jsonCall('POST', '/v1/accounts', { namespace: uniqueName('many') })));
    for (const res of results) {
      expect(res.status).toBe(201);
      const { credential } = (await res.json()) as { credential: string };
      secrets.add(credential.split('.')[1]);
    }
    expect(secrets.size).toBe(20);
  });

  it('accepts a namespace at both length bounds (1 and 63 characters)', async () => {
    const long = uniqueName('l').padEnd(63, '0');
    expect(long).toHaveLength(63);
    expect((await jsonCall('POST', '/v1/accounts', { namespace: long })).status).toBe(201);
    // A single-character namespace: try a few, since another run may hold one already.
    const statuses: number[] = [];
    for (const ch of 'qz7') statuses.push((await jsonCall('POST', '/v1/accounts', { namespace: ch })).status);
    expect(statuses.every((s) => s === 201 || s === 409)).toBe(true);
    expect(statuses).toContain(201);
  });

  it('accepts a body without a Content-Type, and application/json with a charset parameter', async () => {
    // A byte body gets no implicit Content-Type (a string body would become text/plain).
    const bytes = new TextEncoder().encode(JSON.stringify({ namespace: uniqueName('bare') }));
    const bare = await call('/v1/accounts', { method: 'POST', body: bytes });
    expect(bare.headers.get('content-type')).toMatch(/^application\/json/);
    expect(bare.status).toBe(201);
    const charset = await call('/v1/accounts', {
      method: 'POST', headers: { 'content-type': 'application/json; charset=utf-8' }, body: JSON.stringify({ namespace: uniqueName('cs') }),
    });
    expect(charset.status).toBe(201);
  });

  it('ignores unknown fields', async () => {
    const res = await jsonCall('POST', '/v1/accounts', { namespace: uniqueName('extra'), plan: 'gold' });
    expect(res.status).toBe(201);
  });
});

describe('POST /v1/accounts rejects a body that is not a JSON object with 400 invalid_json', () => {
  const cases: [string, string][] = [
    ['not JSON', 'namespace=abc'],
    ['truncated JSON', '{"namespace": "abc"'],
    ['a JSON array', '[{"namespace":"abc"}]'],
    ['an empty array', '[]'],
    ['a number', '42'],
    ['a string', '"abc"'],
    ['null', 'null'],
    ['true', 'true'],
    ['an empty body', ''],
    ['whitespace only', '  \n '],
  ];
  for (const [what, body] of cases) {
    it(`rejects ${what}`, async () => {
      await expectError(await jsonCall('POST', '/v1/accounts', body), 400, 'invalid_json');
    });
  }

  it('rejects a body that is not valid UTF-8', async () => {
    const bytes = new Uint8Array([0x7b, 0x22, 0x6e, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]);
    await expectError(await call('/v1/accounts', { method: 'POST', headers: { 'content-type': 'application/json' }, body: bytes }), 400, 'invalid_json');
  });
});

describe('POST /v1/accounts rejects a bad namespace with 400 invalid_namespace', () => {
  const cases: [string, unknown][] = [
    ['a missing namespace', {}],
    ['a null namespace', { namespace: null }],
    ['a numeric namespace', { namespace: 42 }],
    ['an array namespace', { namespace: ['abc'] }],
    ['an object namespace', { namespace: { name: 'abc' } }],
    ['an empty namespace', { namespace: '' }],
    ['a namespace starting with a hyphen', { namespace: '-abc' }],
    ['a namespace with upper case', { namespace: 'Abc' }],
    ['a namespace with an underscore', { namespace: 'a_b' }],
    ['a namespace with a dot', { namespace: 'a.b' }],
    ['a namespace with a space', { namespace: 'a b' }],
    ['a namespace with a slash', { namespace: 'a/b' }],
    ['a namespace with a non-ASCII letter', { namespace: 'caf\u00e9' }],
    ['a namespace with a trailing newline', { namespace: 'abc\n' }],
    ['a 64-character namespace', { namespace: 'a'.repeat(64) }],
  ];
  for (const [what, body] of cases) {
    it(`rejects ${what}`, async () => {
      await expectError(await jsonCall('POST', '/v1/accounts', body), 400, 'invalid_namespace');
    });
  }
});

describe('POST /v1/accounts conflicts and transport errors', () => {
  it('answers 409 namespace_taken for a namespace that already has an account', async () => {
    const namespace = uniqueName('taken');
    expect((await jsonCall('POST', '/v1/accounts', { namespace })).status).toBe(201);
    await expectError(await jsonCall('POST', '/v1/accounts', { namespace }), 409, 'namespace_taken');
  });

  it('answers 415 unsupported_media_type for a non-JSON content type, and creates nothing', async () => {
    const namespace = uniqueName('media');
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const res = await call('/v1/accounts', { method: 'POST', headers: { 'content-type': type }, body: JSON.stringify({ namespace }) });
      await expectError(res, 415, 'unsupported_media_type');
    }
    expect((await jsonCall('POST', '/v1/accounts', { namespace })).status).toBe(201);
  });

  it('answers 413 body_too_large for a body over 64 KiB, and creates nothing', async () => {
    const namespace = uniqueName('big');
    const body = JSON.stringify({ namespace, padding: 'x'.repeat(64 * 1024) });
    await expectError(await jsonCall('POST', '/v1/accounts', body), 413, 'body_too_large');
    expect((await jsonCall('POST', '/v1/accounts', { namespace })).status).toBe(201);
  });

  it('answers 413 body_too_large for an oversized streamed body without a Content-Length', async () => {
    const chunk = new TextEncoder().encode('x'.repeat(16 * 1024));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= 8) return controller.close();
        sent += 1;
        controller.enqueue(chunk);
      },
    });
    const res = await call('/v1/accounts', { method: 'POST', headers: { 'content-type': 'application/json' }, body: stream });
    await expectError(res, 413, 'body_too_large');
  });

  it('answers a non-POST method on /v1/accounts with a JSON error, not HTML', async () => {
    const res = await call('/v1/accounts');
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    const body = (await res.json()) as { error: string };
    expect(body.error).toBe('not_found');
  });
});
