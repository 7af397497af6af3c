/**
 * No ams_recv answer lost in transit (decisions/0120), inside real workerd:
 * the session's event store keeps its bounds and survives a rebuild from
 * storage, and the read position moves only for an answer that is safe on
 * its way — a cancelled wait or a response whose client left commits
 * nothing; a stored answer replayed by Last-Event-ID commits then, and the
 * resumption leaves the GET stream in place.
 */
import { env, runInDurableObject, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { ConversationObject } from '../../src/conversation/conversation-object';
import type { Env } from '../../src/control/env';
import { SessionEvents } from '../../src/mcp/events';
import { LIMITS } from '../../src/protocol/limits';
import { account, mint } from './support';
import { openSession, readUntil, sseMessages, type RawSession } from './mcp-support';

const bindings = env as unknown as Env;
let n = 0;
const freshSessionObject = () => bindings.MCP_SESSIONS.get(bindings.MCP_SESSIONS.idFromName(`mcp-resume/${Date.now()}-${n++}`));
const note = (i: number, pad = ''): JSONRPCMessage => ({ jsonrpc: '2.0', method: 'notifications/test', params: { i, pad } });

async function replay(events: SessionEvents, after: string): Promise<{ id: string; message: JSONRPCMessage }[]> {
  const got: { id: string; message: JSONRPCMessage }[] = [];
  await events.replayEventsAfter(after, { send: async (id, message) => void got.push({ id, message }) });
  return got;
}

describe('a session\'s event store', () => {
  it('keeps at most mcpEventsKept events, oldest dropped first, and replays a stream after an id in order without its priming event', async () => {
    await runInDurableObject(freshSessionObject(), async (_o, state) => {
      const events = new SessionEvents(state.storage.sql);
      const primed = await events.storeEvent('post-1', {} as JSONRPCMessage);
      await events.storeEvent('post-1', note(0));
      await events.storeEvent('other', note(-1));
      await events.storeEvent('post-1', note(1));
      expect((await replay(events, primed)).map((e) => (e.message as unknown as { params: { i: number } }).params.i)).toEqual([0, 1]);
      const ids: string[] = [];
      for (let i = 0; i < LIMITS.mcpEventsKept + 40; i++) ids.push(await events.storeEvent('get', note(i)));
      expect(events.size().events).toBe(LIMITS.mcpEventsKept);
      expect(events.streamOf(primed)).toBeUndefined();
      expect(events.streamOf(ids[39]!)).toBeUndefined();
      expect(events.streamOf(ids[40]!)).toBe('get');
      expect((await replay(events, ids.at(-3)!)).map((e) => e.id)).toEqual(ids.slice(-2));
      // A rebuilt object (a restart) finds the same events.
      expect((await replay(new SessionEvents(state.storage.sql), ids.at(-2)!)).map((e) => e.id)).toEqual(ids.slice(-1));
      await expect(replay(events, 'nonsense')).rejects.toThrow();
    });
  });

  it('keeps at most mcpEventsBytes, reassembles a message larger than a row, and always keeps the newest', async () => {
    await runInDurableObject(freshSessionObject(), async (_o, state) => {
      const events = new SessionEvents(state.storage.sql);
      const big = 'é'.repeat(1_200_000); // more than one row's part, and 2.4 MB of UTF-8
      const first = await events.storeEvent('post', {} as JSONRPCMessage);
      await events.storeEvent('post', note(1, big));
      const back = await replay(events, first);
      expect((back[0]!.message as unknown as { params: { pad: string } }).params.pad).toBe(big);
      for (let i = 2; i < 12; i++) await events.storeEvent('post', note(i, big));
      const size = events.size();
      expect(size.bytes).toBeLessThanOrEqual(LIMITS.mcpEventsBytes);
      expect(size.bytes).toBeGreaterThan(LIMITS.mcpEventsBytes - 2 * 2_400_100);
      // Parts of dropped events go with them.
      const parts = state.storage.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM mcp_event_parts').one().n;
      expect(parts).toBe(size.events * 3);
      const huge = await events.storeEvent('post', note(99, 'x'.repeat(LIMITS.mcpEventsBytes + 10)));
      expect(events.size().events).toBe(1);
      expect(events.streamOf(huge)).toBe('post');
    });
  });

  it('drops events older than mcpEventsMaxAgeMs', async () => {
    await runInDurableObject(freshSessionObject(), async (_o, state) => {
      let now = 1_000_000;
      const events = new SessionEvents(state.storage.sql, () => now);
      const old = await events.storeEvent('get', note(1));
      now += LIMITS.mcpEventsMaxAgeMs - 1;
      await events.storeEvent('get', note(2));
      expect(events.streamOf(old)).toBe('get');
      now += 2;
      const fresh = await events.storeEvent('get', note(3));
      expect(events.streamOf(old)).toBeUndefined();
      expect(events.size().events).toBe(2);
      expect(events.streamOf(fresh)).toBe('get');
    });
  });
});

const V = '2025-11-25';

/** A reader and a speaker in a fresh conversation, and a way to know the reader's waits in the conversation have ended. */
async function pair() {
  const owner = await account('mcpr');
  const conv = await mint(owner);
  const reader = await openSession(conv.magic_link, undefined, V);
  const speaker = await openSession(conv.magic_link, undefined, V);
  await reader.ok('ams_join', { stream_name: 'reader', notify: 'off' });
  await speaker.ok('ams_join', { stream_name: 'speaker' });
  await reader.call('ams_recv');
  const stub = bindings.CONVERSATIONS.get(bindings.CONVERSATIONS.idFromName(`${owner.namespace}/${conv.alias}`));
  const waits = () => runInDurableObject(stub as unknown as DurableObjectStub<ConversationObject>, (o) => (o as unknown as { mcp: { longPolls: number } }).mcp.longPolls);
  const settled = async () => {
    for (let i = 0; i < 200 && (await waits()) > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(await waits()).toBe(0);
    // The abandoned call's session finishes after the conversation answers it.
    await new Promise((r) => setTimeout(r, 50));
  };
  return { reader, speaker, waits, settled };
}

let rpcId = 10_000;
function startRecv(s: RawSession, args: Record<string, unknown>): { id: number; res: Promise<Response> } {
  const id = rpcId++;
  return { id, res: s.post({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'ams_recv', arguments: args } }) };
}

/** Reads an SSE body until its first event id (the priming event). */
async function firstEventId(res: Response): Promise<string> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`ended before an id: ${text}`);
    text += decoder.decode(value, { stream: true });
    const m = /^id: (\S+)$/m.exec(text);
    if (m && text.includes('\n\n')) {
      reader.releaseLock();
      return m[1]!;
    }
  }
}

describe('the read position moves only for an answer safe on its way', () => {
  it('a wait its client cancels (notifications/cancelled) commits nothing: the next ams_recv gets the message', async () => {
    const { reader, speaker, waits, settled } = await pair();
    const w = startRecv(reader, { wait_ms: 10_000 });
    const abandoned = await w.res;
    expect(await firstEventId(abandoned)).toMatch(/^\d+$/);
    for (let i = 0; i < 200 && (await waits()) === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect((await reader.post({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: w.id, reason: 'gave up' } })).status).toBe(202);
    await speaker.ok('ams_send', { data: 'said once' });
    await settled();
    expect((await reader.call('ams_recv')).text).toMatch(/speaker: said once/);
    expect((await reader.call('ams_recv')).text).toBe('(nothing new)');
    await abandoned.body!.cancel();
  });

  it('a response whose client went away before the answer commits nothing, and a Last-Event-ID resumption replays it, commits it, and leaves the GET stream', async () => {
    const { reader, speaker, waits, settled } = await pair();
    const get = await reader.get();
    const getPriming = await firstEventId(get);
    expect(getPriming).toMatch(/^\d+$/);
    const w = startRecv(reader, { wait_ms: 10_000 });
    const cut = await w.res;
    const primed = await firstEventId(cut);
    for (let i = 0; i < 200 && (await waits()) === 0; i++) await new Promise((r) => setTimeout(r, 10));
    await cut.body!.cancel();
    await speaker.ok('ams_send', { data: 'on the cut stream' });
    await settled();
    // Resumed: the stored answer comes back on a GET with the POST stream's last event id.
    const resumed = await reader.get({ 'last-event-id': primed });
    expect(resumed.status).toBe(200);
    const answer = await readUntil(resumed, (m) => m.id === w.id);
    expect(answer.result!.content[0].text).toMatch(/speaker: on the cut stream/);
    await resumed.body!.cancel();
    // Replayed means delivered: committed, so the next call does not repeat it.
    expect((await reader.call('ams_recv')).text).toBe('(nothing new)');
    // The GET stream was not replaced by the resumption: it still carries news.
    await speaker.ok('ams_set_metadata', { metadata: { still: 'listening' } });
    const pushed = await readUntil(get, (m) => m.method === 'notifications/ams/stream_metadata' || m.method?.startsWith('notifications/ams/') === true);
    expect(pushed.method).toMatch(/^notifications\/ams\//);
    await get.body!.cancel();
  });

  it('every 2025-11-25 stream opens with a priming event and a retry field; older clients get a comment on GET', async () => {
    const owner = await account('mcpr');
    const conv = await mint(owner);
    const s = await openSession(conv.magic_link, undefined, V);
    const post = await s.post({ jsonrpc: '2.0', id: rpcId++, method: 'tools/list', params: {} });
    const text = await post.text();
    expect(text).toMatch(new RegExp(`^id: \\d+\\nretry: ${LIMITS.mcpSseRetryMs}\\ndata: \\n\\n`));
    expect(sseMessages(text).some((m) => m.result !== undefined)).toBe(true);
    const get = await s.get();
    const r = get.body!.getReader();
    const first = new TextDecoder().decode((await r.read()).value);
    expect(first).toMatch(new RegExp(`^id: \\d+\\nretry: ${LIMITS.mcpSseRetryMs}\\ndata: \\n\\n`));
    await r.cancel();
    const old = await openSession(conv.magic_link);
    const oldGet = await old.get();
    const o = oldGet.body!.getReader();
    expect(new TextDecoder().decode((await o.read()).value)).toBe(': open\n\n');
    await o.cancel();
  });
});
