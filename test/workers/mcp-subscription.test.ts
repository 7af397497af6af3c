/**
 * Selective subscription for MCP members (decisions/0130): `ams_join
 * {subscribe_streams}` is stored in the member row, honoured by `ams_recv`
 * (both formats), the channel push and stateless (2026-07-28) calls, and
 * changed in place by calling `ams_join` again — no leave, no rejoin.
 */
import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { account, barrier, connect, isType, mint, type TestSocket } from './support';
import { openSession, readUntil } from './mcp-support';

type F = { type: string; stream_name?: string; data?: string };
const tokensOf = (frames: F[]) => frames.filter((f) => f.type === 'token').map((f) => `${f.stream_name}:${f.data}`);

async function speaker(link: string, name: string): Promise<TestSocket> {
  const acc = await account('mcps');
  const s = await connect(link, { credential: acc.credential, headers: { 'X-AMS-Stream-Name': name } });
  await s.next(isType('joined'));
  return s;
}

/** A conversation with two WebSocket speakers, `a` and `b`. */
async function room(body: Record<string, unknown> = {}) {
  const conv = await mint(await account('mcps'), body);
  return { conv, a: await speaker(conv.magic_link, 'a'), b: await speaker(conv.magic_link, 'b') };
}

async function say(s: TestSocket, data: string) {
  s.send({ type: 'token', data, end: true });
  await barrier(s);
}

const META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientCapabilities': {},
  'io.modelcontextprotocol/clientInfo': { name: 'sub-test', version: '1' },
};

/** One stateless (2026-07-28) tool call: nothing kept between calls but the resume_key. */
async function stateless(url: string, name: string, args: Record<string, unknown>): Promise<{ isError: boolean; value: Record<string, any> }> {
  const res = await SELF.fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': name },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { _meta: META, name, arguments: args } }),
  });
  const body = (await res.json()) as { result: { isError?: boolean; structuredContent: Record<string, any> } };
  return { isError: body.result.isError === true, value: body.result.structuredContent };
}

describe('MCP members with a subscription filter', () => {
  it('ams_recv hears only the filter\'s streams, the result echoes it, and a new filter holds from the next call', async () => {
    const { conv, a, b } = await room();
    const m = await openSession(conv.magic_link);
    const joined = await m.ok('ams_join', { stream_name: 'agent', subscribe_streams: ['b'] });
    expect(joined.subscribed_streams).toEqual(['b']);
    expect(joined.peers.map((p: { stream_name: string }) => p.stream_name).sort()).toEqual(['a', 'b']);
    await say(a, 'a1');
    await say(b, 'b1');
    const first = await m.ok('ams_recv', { wait_ms: 5_000, format: 'frames' });
    expect(tokensOf(first.frames)).toEqual(['b:b1']);
    // Messages format, the same filter.
    await say(a, 'a2');
    await say(b, 'b2');
    const msgs = await m.ok('ams_recv', { wait_ms: 5_000, format: 'entries' });
    expect(msgs.entries.filter((e: { kind: string }) => e.kind === 'message').map((e: { stream_name: string; text: string }) => `${e.stream_name}:${e.text}`)).toEqual(['b:b2']);
    // Changed in place: the same membership (same stream, no leave or join announced), now hearing a only.
    const again = await m.ok('ams_join', { subscribe_streams: ['a'] });
    expect(again).toMatchObject({ stream_id: joined.stream_id, subscribed_streams: ['a'] });
    await say(b, 'b3');
    await say(a, 'a3');
    const after = await m.ok('ams_recv', { wait_ms: 5_000, format: 'frames' });
    expect(tokensOf(after.frames)).toEqual(['a:a3']);
    expect(after.frames.some((f: F) => (f.type === 'stream_left' || f.type === 'stream_joined') && f.stream_name === 'agent')).toBe(false);
    await barrier(a);
    expect(a.frames.filter((f) => (f.type === 'stream_left' || f.type === 'stream_joined') && (f as F).stream_name === 'agent')).toHaveLength(1);
    // null: everyone again.
    const all = await m.ok('ams_join', { subscribe_streams: null });
    expect(all.subscribed_streams).toBeUndefined();
    await say(b, 'b4');
    const last = await m.ok('ams_recv', { wait_ms: 5_000, format: 'frames' });
    expect(tokensOf(last.frames)).toEqual(['b:b4']);
  });

  it('the channel push honours the filter, and a change takes effect on the next utterance', async () => {
    const { conv, a, b } = await room();
    const m = await openSession(conv.magic_link);
    await m.ok('ams_join', { stream_name: 'pushed', subscribe_streams: ['b'] });
    const stream = await m.get();
    expect(stream.status).toBe(200);
    await say(a, 'from a, not pushed');
    await say(b, 'from b, pushed');
    const pushed = await readUntil(stream, (x) => x.method === 'notifications/claude/channel', 10_000);
    expect(pushed.params).toMatchObject({ content: 'from b, pushed', meta: { from: 'b' } });
    await m.ok('ams_join', { subscribe_streams: ['a'] });
    const stream2 = await m.get();
    await say(b, 'from b, no longer');
    await say(a, 'from a, now pushed');
    const next = await readUntil(stream2, (x) => x.method === 'notifications/claude/channel', 10_000);
    expect(next.params).toMatchObject({ content: 'from a, now pushed', meta: { from: 'a' } });
    await stream.body?.cancel().catch(() => {});
    await stream2.body?.cancel().catch(() => {});
  });

  it('a stateless (2026-07-28) member keeps its filter in the row across calls, and changes it with ams_join {resume_key, subscribe_streams}', async () => {
    const { conv, a, b } = await room();
    const joined = await stateless(conv.magic_link, 'ams_join', { stream_name: 'nomad', subscribe_streams: ['a'] });
    expect(joined.value.subscribed_streams).toEqual(['a']);
    const key = joined.value.resume_key;
    await say(a, 'a1');
    await say(b, 'b1');
    const got = await stateless(conv.magic_link, 'ams_recv', { resume_key: key, wait_ms: 5_000, format: 'frames' });
    expect(tokensOf(got.value.frames)).toEqual(['a:a1']);
    const changed = await stateless(conv.magic_link, 'ams_join', { resume_key: key, subscribe_streams: ['b'] });
    expect(changed.value).toMatchObject({ stream_id: joined.value.stream_id, subscribed_streams: ['b'] });
    await say(a, 'a2');
    await say(b, 'b2');
    const got2 = await stateless(conv.magic_link, 'ams_recv', { resume_key: key, wait_ms: 5_000, format: 'frames' });
    expect(tokensOf(got2.value.frames)).toEqual(['b:b2']);
  });

  it('a filter with history off is honoured too (frames buffered by the fan-out)', async () => {
    const { conv, a, b } = await room({ history: { max_frames: 0 } });
    const m = await openSession(conv.magic_link);
    await m.ok('ams_join', { subscribe_streams: ['a'] });
    await say(b, 'b1');
    await say(a, 'a1');
    const got = await m.ok('ams_recv', { wait_ms: 5_000, format: 'frames' });
    expect(tokensOf(got.frames)).toEqual(['a:a1']);
  });

  it('bad filters are the tool error invalid_subscription, and change nothing', async () => {
    const owner = await account('mcps');
    const conv = await mint(owner);
    const m = await openSession(conv.magic_link);
    const names = Array.from({ length: 65 }, (_, i) => `s${i}`);
    for (const bad of [names, [], [''], ['not a name']]) {
      const r = await m.call('ams_join', { stream_name: 'never', subscribe_streams: bad });
      expect(r.isError).toBe(true);
      expect(r.value.error).toBe('invalid_subscription');
    }
    const peers = await SELF.fetch(`http://x/v1/${owner.namespace}/conversations/${conv.alias}`, { headers: { authorization: `Bearer ${owner.credential}` } });
    expect(JSON.stringify(await peers.json())).not.toContain('"never"');
    // A joined member keeps its filter when a change is refused.
    await m.ok('ams_join', { stream_name: 'kept', subscribe_streams: ['x'] });
    expect((await m.call('ams_join', { subscribe_streams: ['a,b'] })).value.error).toBe('invalid_subscription');
    expect((await m.ok('ams_join', {})).subscribed_streams).toEqual(['x']);
  });
});
