/** The DNS-rebinding guard: a local broker answers only its own machine; a deployed one is not guarded. */
import { describe, expect, it } from 'vitest';
import { Hono } from 'hono';
import { foreignHostOrOrigin, originGuard } from '../../src/http/origin-guard';

const DEV = { AMS_ENV: 'development' };

function req(host: string | null, origin?: string): Request {
  const headers = new Headers();
  if (origin !== undefined) headers.set('origin', origin);
  const r = new Request(`http://${host ?? '127.0.0.1:8787'}/mcp`, { method: 'POST', headers });
  // Node's Request drops a Host header given in init; the guard falls back to the URL, which is what workerd derives from Host.
  return r;
}

describe('foreignHostOrOrigin on a local broker', () => {
  it.each(['127.0.0.1:8787', 'localhost:8787', 'localhost', '[::1]:8787', '127.0.0.2', 'ams.localhost:8787', 'ams.test', 'LOCALHOST:1'])('lets Host %s through', (host) => {
    expect(foreignHostOrOrigin(req(host), DEV)).toBeNull();
  });

  it.each(['evil.example.com', 'evil.example.com:8787', '192.168.1.10:8787', '10.0.0.1', '0.0.0.0:8787', 'localhost.evil.com', '127.0.0.1.nip.io', 'test.evil.com'])('refuses Host %s', (host) => {
    expect(foreignHostOrOrigin(req(host), DEV)).toMatch(/^Host .* is not this machine$/);
  });

  it('lets a loopback Origin through and refuses a foreign, opaque or non-http one', () => {
    expect(foreignHostOrOrigin(req('127.0.0.1:8787', 'http://localhost:3000'), DEV)).toBeNull();
    expect(foreignHostOrOrigin(req('127.0.0.1:8787', 'https://127.0.0.1'), DEV)).toBeNull();
    for (const origin of ['http://evil.example.com', 'null', 'file://', 'chrome-extension://abc', 'not a url']) {
      expect(foreignHostOrOrigin(req('127.0.0.1:8787', origin), DEV)).toMatch(/^Origin .* is not this machine$/);
    }
  });

  it('reads the Host header when the runtime keeps it (workerd does)', () => {
    const r = new Request('http://127.0.0.1:8787/mcp', { method: 'POST' });
    const spoofed = { headers: new Headers({ host: 'evil.example.com:8787' }), url: r.url } as unknown as Request;
    expect(foreignHostOrOrigin(spoofed, DEV)).toMatch(/evil\.example\.com/);
  });

  it('takes extra names from AMS_ALLOWED_HOSTS, case-insensitively, and nothing else', () => {
    const env = { ...DEV, AMS_ALLOWED_HOSTS: ' Laptop.lan , 192.168.1.10 ' };
    expect(foreignHostOrOrigin(req('laptop.lan:8787', 'http://LAPTOP.lan:8787'), env)).toBeNull();
    expect(foreignHostOrOrigin(req('192.168.1.10:8787'), env)).toBeNull();
    expect(foreignHostOrOrigin(req('192.168.1.11:8787'), env)).not.toBeNull();
  });
});

describe('foreignHostOrOrigin on a deployed broker', () => {
  it('guards nothing under AMS_ENV=production (Cloudflare routes only its own hostnames)', () => {
    expect(foreignHostOrOrigin(req('ams.example.com', 'https://app.elsewhere.dev'), { AMS_ENV: 'production' })).toBeNull();
  });
  it('guards when AMS_ENV is unset: only production opts out', () => {
    expect(foreignHostOrOrigin(req('evil.example.com'), {})).not.toBeNull();
  });
});

describe('originGuard as middleware', () => {
  const app = new Hono<{ Bindings: { AMS_ENV?: string } }>();
  app.post('/mcp', originGuard as never, (c) => c.text('served'));

  it('answers 403 with a JSON-RPC error without id, and never reaches the handler', async () => {
    const res = await app.request(req('evil.example.com:8787', 'http://evil.example.com:8787'), undefined, DEV);
    expect(res.status).toBe(403);
    const body = (await res.json()) as { jsonrpc: string; id: unknown; error: { code: number; message: string } };
    expect(body.jsonrpc).toBe('2.0');
    expect(body.id).toBeNull();
    expect(body.error.code).toBe(-32600);
    expect(body.error.message).toMatch(/^Forbidden: Host "evil\.example\.com:8787" is not this machine/);
  });

  it('passes a local request on to the handler', async () => {
    const res = await app.request(req('127.0.0.1:8787', 'http://127.0.0.1:8787'), undefined, DEV);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('served');
  });
});
