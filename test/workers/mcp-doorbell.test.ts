/**
 * The GET stream of an MCP session is fed by a doorbell, not a long-poll: the
 * conversation keeps no call open for it, can be evicted while the session
 * listens, and still reaches the session after it wakes (the registry of
 * listeners is in its storage).
 */
import { env, evictDurableObject, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { ConversationObject } from '../../src/conversation/conversation-object';
import type { Env } from '../../src/control/env';
import { account, barrier, connect, isType, mint } from './support';
import { openSession, sseMessages, type RpcMessage } from './mcp-support';

const bindings = env as unknown as Env;
const conversationOf = (ns: string, alias: string) => bindings.CONVERSATIONS.get(bindings.CONVERSATIONS.idFromName(`${ns}/${alias}`));
const inObject = runInDurableObject as unknown as <R>(s: unknown, f: (o: ConversationObject, state: DurableObjectState) => R | Promise<R>) => Promise<R>;

type Row = { member_id: string; lease: string; listener: string | null; listen_tag: string | null };
const rowOf = (state: DurableObjectState, stream_id: string): Row =>
  state.storage.sql.exec<Row>('SELECT member_id, lease, listener, listen_tag FROM mcp_members WHERE stream_id = ?', stream_id).one();

/** Reads a GET stream's messages as they come, keeping every one (several may share a chunk). */
function reader(res: Response) {
  const r = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  return {
    get messages(): RpcMessage[] {
      return sseMessages(text);
    },
    async until(done: (all: RpcMessage[]) => boolean): Promise<RpcMessage[]> {
      while (!done(sseMessages(text))) {
        const chunk = await r.read();
        if (chunk.done) throw new Error(`the GET stream ended: ${text.slice(-500)}`);
        text += decoder.decode(chunk.value, { stream: true });
      }
      return sseMessages(text);
    },
    cancel: () => r.cancel(),
  };
}

const tokens = (all: RpcMessage[]) => all.filter((m) => m.method === 'notifications/ams/token').map((m) => m.params!);

describe('MCP GET streams by doorbell', () => {
  it('the conversation holds no call open for a listening session, is evicted, and after waking still notifies its GET stream', async () => {
    const owner = await account('mcpd');
    const conv = await mint(owner);
    const m = await openSession(conv.magic_link);
    const joined = await m.ok('ams_join', { stream_name: 'listener' });
    const get = reader(await m.get());
    const ws = await connect(conv.magic_link, { credential: owner.credential });
    await ws.next(isType('joined'));
    ws.send({ type: 'token', data: 'before the eviction' });
    await get.until((all) => tokens(all).length === 1);
    const stub = conversationOf(owner.namespace, conv.alias);

    // Idle with a GET stream held: no ams_recv waits in the object, and the registry names the session's object.
    const idle = await inObject(stub, async (o, state) => {
      await o.mcp.bellsRung();
      return { longPolls: o.mcp.longPolls, row: rowOf(state, joined.stream_id) };
    });
    expect(idle.longPolls).toBe(0);
    expect(idle.row.listener).toBe(bindings.MCP_SESSIONS.idFromName(m.id).toString());

    await evictDurableObject(stub);

    ws.send({ type: 'token', data: 'after the wake' });
    const all = await get.until((x) => tokens(x).length === 2);
    expect(tokens(all).map((t) => t.data)).toEqual(['before the eviction', 'after the wake']);
    expect(tokens(all)[1]).toMatchObject({ stream_id: conv.stream_id, seq: (tokens(all)[0].seq as number) + 1 });
    expect(await inObject(stub, (o) => o.mcp.longPolls)).toBe(0);
    ws.close();
    await get.cancel();
  });

  it('tells every frame of a burst once, in order, and never the session its own', async () => {
    const owner = await account('mcpd');
    const conv = await mint(owner);
    const m = await openSession(conv.magic_link);
    await m.ok('ams_join');
    const get = reader(await m.get());
    const ws = await connect(conv.magic_link, { credential: owner.credential });
    await ws.next(isType('joined'));
    ws.send({ type: 'token', data: 'first' });
    await get.until((all) => tokens(all).length === 1);
    const { seq: own } = await m.ok('ams_send', { data: 'my own words' });
    const count = 250;
    for (let i = 0; i < count; i++) ws.send({ type: 'token', data: `t${i}` });
    const all = await get.until((x) => tokens(x).length === count + 1);
    await barrier(ws);
    await inObject(conversationOf(owner.namespace, conv.alias), (o) => o.mcp.bellsRung());
    const told = tokens(get.messages);
    expect(told.map((t) => t.data)).toEqual(['first', ...Array.from({ length: count }, (_, i) => `t${i}`)]);
    const seqs = told.map((t) => t.seq as number);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(seqs).not.toContain(own);
    expect(all.filter((x) => x.method === 'notifications/ams/truncated')).toEqual([]);
    ws.close();
    await get.cancel();
  });

  it('ends a membership on the GET stream with notifications/ams/closed when the link is rotated', async () => {
    const owner = await account('mcpd');
    const conv = await mint(owner);
    const m = await openSession(conv.magic_link);
    await m.ok('ams_join');
    const get = reader(await m.get());
    const ws = await connect(conv.magic_link, { credential: owner.credential });
    await ws.next(isType('joined'));
    ws.send({ type: 'token', data: 'registered?' });
    await get.until((all) => tokens(all).length === 1);
    const rotated = await inObject(conversationOf(owner.namespace, conv.alias), (o) => o.rotate());
    expect(rotated).toBeGreaterThan(0);
    const all = await get.until((x) => x.some((n) => n.method === 'notifications/ams/closed'));
    expect(all.find((n) => n.method === 'notifications/ams/closed')!.params).toMatchObject({ reason: 'invalid_magic_link' });
    await get.cancel();
  });

  it('a conversation stored before doorbells existed gains the listener columns when it wakes, and then rings', async () => {
    const owner = await account('mcpd');
    const conv = await mint(owner);
    const m = await openSession(conv.magic_link);
    const joined = await m.ok('ams_join');
    const stub = conversationOf(owner.namespace, conv.alias);
    await inObject(stub, (_o, state) => {
      state.storage.sql.exec('ALTER TABLE mcp_members DROP COLUMN listener');
      state.storage.sql.exec('ALTER TABLE mcp_members DROP COLUMN listen_tag');
    });
    await evictDurableObject(stub);
    const get = reader(await m.get());
    const ws = await connect(conv.magic_link, { credential: owner.credential });
    await ws.next(isType('joined'));
    ws.send({ type: 'token', data: 'after the upgrade' });
    const all = await get.until((x) => tokens(x).length === 1);
    expect(tokens(all)[0]).toMatchObject({ data: 'after the upgrade' });
    const row = await inObject(stub, (_o, state) => rowOf(state, joined.stream_id));
    expect(row.listener).toBe(bindings.MCP_SESSIONS.idFromName(m.id).toString());
    ws.close();
    await get.cancel();
  });

  it('forgets a listener whose doorbell is not answered or fails, and keeps serving the conversation', async () => {
    const owner = await account('mcpd');
    const conv = await mint(owner);
    const m = await openSession(conv.magic_link);
    const joined = await m.ok('ams_join');
    const ws = await connect(conv.magic_link, { credential: owner.credential });
    await ws.next(isType('joined'));
    const stub = conversationOf(owner.namespace, conv.alias);
    // A session object that holds no GET stream (it never started) answers false; a listener that is no object id fails.
    const nobody = bindings.MCP_SESSIONS.newUniqueId().toString();
    for (const [object, tag] of [[nobody, 'nobody'], ['not-an-object-id', 'broken']]) {
      const registered = await inObject(stub, (o, state) => {
        const row = rowOf(state, joined.stream_id);
        return o.mcp.listen({ member_id: row.member_id, lease: row.lease }, { object, tag });
      });
      expect(registered.ok).toBe(true);
      ws.send({ type: 'token', data: `to ${tag}` });
      await barrier(ws);
      const row = await inObject(stub, async (o, state) => {
        await o.mcp.bellsRung();
        return rowOf(state, joined.stream_id);
      });
      expect(row).toMatchObject({ listener: null, listen_tag: null });
    }
    const got = await m.ok('ams_recv', { format: 'frames' });
    expect(got.frames.filter((f: { type: string }) => f.type === 'token').map((f: { data: string }) => f.data)).toEqual(['to nobody', 'to broken']);
    ws.close();
  });
});
