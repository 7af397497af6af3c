/**
 * Issue 14, item 6: an unauthenticated `initialize` writes only what a
 * rebuild needs (a few KiB at most, never what the client padded it with),
 * and a session that never joins is forgotten within minutes, not a day.
 */
import { env, runInDurableObject, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { LIMITS } from '../../src/protocol/limits';
import { ORIGIN } from '../fuzz/workerd';

const ACCEPT = 'application/json, text/event-stream';

function initialize(params: Record<string, unknown>): Promise<Response> {
  return SELF.fetch(`${ORIGIN}/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: ACCEPT },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'pad', version: '1' }, ...params } }),
  });
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
