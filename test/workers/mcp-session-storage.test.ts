/**
 * Issue 14, item 6: an unauthenticated `initialize` writes only what a
 * rebuild needs (a few KiB at most, never what the client padded it with),
 * and a session that never joins is forgotten within minutes, not a day.
 */
import { env, runInDurableObject, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { app } from '../../src/app';
import type { Env } from '../../src/control/env';
import { LIMITS } from '../../src/protocol/limits';
import { ORIGIN } from '../fuzz/workerd';

const ACCEPT = 'application/json, text/event-stream';

function initialize(params: Record<string, unknown>, ip?: string): Promise<Response> {
  const init = {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: ACCEPT, ...(ip ? { 'cf-connecting-ip': ip } : {}) },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'pad', version: '1' }, ...params } }),
  };
  // With a client address, straight into the app (the test pool's own fetch sets the address itself).
  return ip ? Promise.resolve(app.fetch(new Request(`${ORIGIN}/mcp`, init), env as unknown as Env)) : SELF.fetch(`${ORIGIN}/mcp`, init);
}

async function stored(sessionId: string): Promise<{ bytes: number; alarm: number | null; text: string }> {
  const stub = env.MCP_SESSIONS.get(env.MCP_SESSIONS.idFromName(sessionId));
  return runInDurableObject(stub, async (_o, state) => {
    const all = await state.storage.list();
    const text = JSON.stringify([...all.values()]);
    return { bytes: new TextEncoder().encode(text).length, alarm: await state.storage.getAlarm(), text };
  });
}

describe('what an MCP initialize stores', () => {
  it('keeps a 1 MB params.pad out of storage: only protocol version, capabilities and client info, in a few KiB', async () => {
    const res = await initialize({ pad: 'x'.repeat(1_000_000) });
    expect(res.status).toBe(200);
    const id = res.headers.get('mcp-session-id')!;
    await res.text();
    const s = await stored(id);
    expect(s.bytes).toBeLessThan(LIMITS.mcpInitStoredBytes + 1024);
    expect(s.text).not.toContain('xxxx');
    expect(s.text).toContain('2025-06-18');
    // Never joined: collected after the short window, not after a day.
    expect(s.alarm).not.toBeNull();
    expect(s.alarm! - Date.now()).toBeLessThanOrEqual(LIMITS.mcpSessionUnjoinedIdleMs);
  });

  it('refuses an initialize whose kept part is over the cap, with a JSON-RPC error, and stores nothing', async () => {
    const res = await initialize({ capabilities: { experimental: { blob: { data: 'y'.repeat(LIMITS.mcpInitStoredBytes) } } } });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { message: string } };
    expect(body.error.message).toContain(`${LIMITS.mcpInitStoredBytes} bytes`);
    expect(res.headers.get('mcp-session-id')).toBeNull();
  });
});

describe('MCP sessions per client', () => {
  it(`opens ${LIMITS.mcpSessionsBurst} for one client, then answers 429 with Retry-After and creates none; another client is not affected`, async () => {
    const ip = `198.51.100.${1 + Math.floor(Math.random() * 250)}`;
    const started = Date.now();
    let opened = 0;
    let refused: Response | undefined;
    while (!refused && opened < LIMITS.mcpSessionsBurst + 50) {
      const res = await initialize({}, ip);
      if (res.status === 429) refused = res;
      else {
        expect(res.status, `session ${opened + 1}`).toBe(200);
        await res.text();
        opened++;
      }
    }
    // The burst, plus what refilled meanwhile (one per 3600/perHour s).
    const refill = Math.ceil(((Date.now() - started) / 3_600_000) * LIMITS.mcpSessionsPerHour);
    expect(opened).toBeGreaterThanOrEqual(LIMITS.mcpSessionsBurst);
    expect(opened).toBeLessThanOrEqual(LIMITS.mcpSessionsBurst + refill);
    expect(refused).toBeDefined();
    expect(Number(refused!.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(refused!.headers.get('mcp-session-id')).toBeNull();
    expect(((await refused!.json()) as { error: { message: string } }).error.message).toContain('too many MCP sessions');
    const other = await initialize({}, '203.0.113.77');
    expect(other.status).toBe(200);
    await other.text();
  }, 60_000);
});
