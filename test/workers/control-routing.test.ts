/** Health, trailing slashes, unknown routes: every API answer is JSON, never HTML, never a stack trace. */
import { describe, expect, it } from 'vitest';
import { bearer, call, expectError, inspectPath, join, jsonCall, mint, newAccount, uniqueName } from './control-helpers';

describe('GET|HEAD /healthz', () => {
  it('answers 200 {ok:true, host, ts} with CORS *', async () => {
    const res = await call('https://health.example/healthz');
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    const body = (await res.json()) as { ok: boolean; host: string; ts: string };
    expect(body.ok).toBe(true);
    expect(body.host).toBe('health.example');
    expect(new Date(body.ts).toISOString()).toBe(body.ts);
  });

  it('reports the port in host when the request has one', async () => {
    const body = (await (await call('http://127.0.0.1:8787/healthz')).json()) as { host: string };
    expect(body.host).toBe('127.0.0.1:8787');
  });

  it('answers HEAD with 200, CORS * and no body', async () => {
    const res = await call('/healthz', { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(await res.text()).toBe('');
  });

  it('needs no credential', async () => {
    const res = await call('/healthz', { headers: bearer('ams_sk_not-a-real.credential') });
    expect(res.status).toBe(200);
  });
});

describe('a trailing slash is tolerated everywhere', () => {
  it('on /healthz/', async () => {
    expect((await call('/healthz/')).status).toBe(200);
  });

  it('on POST /v1/accounts/', async () => {
    expect((await jsonCall('POST', '/v1/accounts/', { namespace: uniqueName('slash') })).status).toBe(201);
  });

  it('on POST /v1/{ns}/conversations/, GET and DELETE /v1/{ns}/conversations/{alias}/', async () => {
    const a = await newAccount('slash-conv');
    const res = await jsonCall('POST', `/v1/${a.namespace}/conversations/`, {}, bearer(a.credential));
    expect(res.status).toBe(201);
    const { alias } = (await res.json()) as { alias: string };
    expect((await call(`${inspectPath(a.namespace, alias)}/`, { headers: bearer(a.credential) })).status).toBe(200);
    expect((await call(`${inspectPath(a.namespace, alias)}/`, { method: 'DELETE', headers: bearer(a.credential) })).status).toBe(200);
  });

  it('on the WebSocket path …/connect/?t=', async () => {
    const a = await newAccount('slash-ws');
    const m = await mint(a);
    const u = new URL(m.magic_link);
    u.pathname = `${u.pathname}/connect/`;
    const s = await join(u.toString(), { credential: a.credential });
    expect(s.joined.stream_id).toBe(m.stream_id);
    s.ws.close(1000, 'done');
    await s.closed;
  });

  it('on POST …/links/ and …/links/rotate/', async () => {
    const a = await newAccount('slash-links');
    const m = await mint(a);
    expect((await jsonCall('POST', `${inspectPath(a.namespace, m.alias)}/links/`, { scope: 'read' }, bearer(a.credential))).status).toBe(201);
    expect((await jsonCall('POST', `${inspectPath(a.namespace, m.alias)}/links/rotate/`, undefined, bearer(a.credential))).status).toBe(200);
  });
});

describe('unknown routes', () => {
  const paths = ['/v1', '/v1/', '/v1/nope', '/v1/accounts/extra/segments', '/nope/deeper/still'];
  for (const path of paths) {
    it(`answers GET ${path} with 404 not_found as JSON, even for a browser`, async () => {
      await expectError(await call(path, { headers: { accept: 'text/html,application/xhtml+xml' } }), 404, 'not_found');
    });
  }

  it('answers an unsupported method on an API path with a JSON 404 or 405, not HTML', async () => {
    const a = await newAccount('methods');
    const m = await mint(a);
    for (const [method, path] of [['PUT', '/v1/accounts'], ['DELETE', '/v1/accounts'], ['PUT', inspectPath(a.namespace, m.alias)], ['POST', '/healthz']]) {
      const res = await call(path, { method, headers: bearer(a.credential) });
      await expectError(res, 404, 'not_found');
    }
  });

  it('answers /.well-known/ discovery with a JSON 404, so MCP clients do not start OAuth', async () => {
    await expectError(await call('/.well-known/oauth-authorization-server'), 404, 'not_found');
  });
});

describe('bad input never becomes a 500', () => {
  it('answers percent-encoding that does not decode with a 4xx JSON error', async () => {
    const a = await newAccount('pct');
    const m = await mint(a);
    for (const [path, init] of [
      ['/v1/%E0%A4%A/conversations', { method: 'POST', headers: bearer(a.credential) }],
      [`/v1/${a.namespace}/conversations/%E0%A4%A`, { headers: bearer(a.credential) }],
      [`${inspectPath(a.namespace, m.alias)}?t=%E0%A4%A`, {}],
    ] as [string, RequestInit][]) {
      const res = await call(path, init);
      expect(res.status, path).toBeGreaterThanOrEqual(400);
      expect(res.status, path).toBeLessThan(500);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    }
  });
});
