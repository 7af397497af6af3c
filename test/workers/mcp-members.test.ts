/**
 * MCP memberships inside real workerd: they share the conversation's rules
 * with WebSockets (takeover, rotation, deletion, self-exclusion), and their
 * sessions' HTTP lifecycle (GET replacement, DELETE, idle collection) holds.
 */
import { env, runInDurableObject, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { ConversationObject } from '../../src/conversation/conversation-object';
import type { Env } from '../../src/control/env';
import { LIMITS } from '../../src/protocol/limits';
import { account, connect, isType, mint } from './support';
import { openSession, readUntil } from './mcp-support';

describe('MCP memberships', () => {
  it('an observer link joins as a listener that hears every stream and cannot speak', async () => {
    const owner = await account('mcpw');
    const conv = await mint(owner);
    const observer = await openSession(conv.observer_link);
    const joined = await observer.ok('ams_join');
    expect(joined).toMatchObject({ scope: 'read', stream_id: null });
    expect((await observer.call('ams_send', { data: 'hi' })).value.error).toBe('read_only');
    const ws = await connect(conv.magic_link, { credential: owner.credential });
    await ws.next(isType('joined'));
    ws.send({ type: 'token', data: 'heard by the observer' });
    const got = await observer.ok('ams_recv', { wait_ms: 5_000, format: 'frames' });
    expect(got.frames.filter((f: { type: string }) => f.type === 'token').map((f: { data: string }) => f.data)).toEqual(['heard by the observer']);
    ws.close();
  });

  it('a WebSocket of the same account takes the stream over, and the MCP session is told stream_displaced', async () => {
    const owner = await account('mcpw');
    const conv = await mint(owner);
    const m = await openSession(conv.magic_link, owner.credential);
    const joined = await m.ok('ams_join', { stream_name: 'shared' });
    const ws = await connect(conv.magic_link, { credential: owner.credential, headers: { 'X-AMS-Stream-Name': 'shared' } });
    const wsJoined = await ws.next(isType('joined'));
    expect(wsJoined).toMatchObject({ stream_id: joined.stream_id, resumed: true });
    const after = await m.call('ams_send', { data: 'am I still here?' });
    expect(after.value.error).toBe('stream_displaced');
    expect(after.notes.find((n) => n.method === 'notifications/ams/closed')?.params).toMatchObject({ reason: 'stream_displaced', code: 4901 });
    // Joining again takes it back (the socket is displaced in turn).
    await m.ok('ams_join', { stream_name: 'shared' });
    expect(await ws.closed).toMatchObject({ code: 4901, reason: 'stream_displaced' });
  });

  it('deleting the conversation ends the membership with conversation_closed', async () => {
    const owner = await account('mcpw');
    const conv = await mint(owner);
    const m = await openSession(conv.magic_link);
    await m.ok('ams_join');
    const waiting = m.call('ams_recv', { wait_ms: 20_000 });
    const del = await SELF.fetch(`http://x/v1/${owner.namespace}/conversations/${conv.alias}`, { method: 'DELETE', headers: { authorization: `Bearer ${owner.credential}` } });
    expect(del.status).toBe(200);
    expect((await waiting).value.error).toBe('conversation_closed');
    expect((await m.call('ams_send', { data: 'anyone?' })).value.error).toBe('conversation_closed');
  });

  it('keeps delivering live frames when the conversation keeps no history', async () => {
    const owner = await account('mcpw');
    const conv = await mint(owner, { history: { max_frames: 0 } });
    const m = await openSession(conv.magic_link);
    await m.ok('ams_join');
    const ws = await connect(conv.magic_link, { credential: owner.credential });
    await ws.next(isType('joined'));
    ws.send({ type: 'token', data: 'ephemeral' });
    const got = await m.ok('ams_recv', { wait_ms: 5_000, format: 'frames' });
    expect(got.frames.filter((f: { type: string }) => f.type === 'token')).toMatchObject([{ data: 'ephemeral' }]);
    expect(got.truncated).toBeUndefined();
    ws.close();
  });

  it('an idle membership leaves (stream_left) and its next call brings it back', async () => {
    const owner = await account('mcpw');
    const conv = await mint(owner);
    const m = await openSession(conv.magic_link);
    const joined = await m.ok('ams_join', { stream_name: 'sleepy' });
    const ws = await connect(conv.magic_link, { credential: owner.credential });
    await ws.next(isType('joined'));
    const bindings = env as unknown as Env;
    const stub = bindings.CONVERSATIONS.get(bindings.CONVERSATIONS.idFromName(`${owner.namespace}/${conv.alias}`));
    const inObject = runInDurableObject as unknown as (s: unknown, f: (o: ConversationObject) => unknown) => Promise<unknown>;
    await inObject(stub, (o) => o.mcp.collectIdle(Date.now() + LIMITS.mcpPresenceIdleMs + 1_000));
    await ws.next((f) => f.type === 'stream_left' && f.stream_id === joined.stream_id);
    const { seq } = await m.ok('ams_send', { data: 'back again' });
    await ws.next((f) => f.type === 'stream_joined' && f.stream_id === joined.stream_id);
    expect(await ws.next((f) => f.type === 'token' && f.seq === seq)).toMatchObject({ data: 'back again', stream_name: 'sleepy' });
    ws.close();
  });

  it('joining again where the session already is keeps the membership, without leaving and rejoining', async () => {
    const owner = await account('mcpw');
    const conv = await mint(owner);
    const ws = await connect(conv.magic_link, { credential: owner.credential });
    await ws.next(isType('joined'));
    const m = await openSession(conv.magic_link);
    const first = await m.ok('ams_join', { stream_name: 'steady' });
    const again = await m.ok('ams_join');
    expect(again).toMatchObject({ stream_id: first.stream_id, resumed: true });
    const { seq } = await m.ok('ams_send', { data: 'still steady' });
    await ws.next((f) => f.type === 'token' && f.seq === seq);
    expect(ws.frames.filter((f) => f.type === 'stream_left')).toHaveLength(0);
    expect(ws.frames.filter((f) => f.type === 'stream_joined')).toHaveLength(1);
    ws.close();
  });

  it('a bearer session refuses the resume_key of another account', async () => {
    const owner = await account('mcpw');
    const conv = await mint(owner);
    const anon = await openSession(conv.magic_link);
    const theirs = await anon.ok('ams_join');
    const mine = await openSession(conv.magic_link, owner.credential);
    expect((await mine.call('ams_join', { resume_key: theirs.resume_key })).value.error).toBe('resume_key_mismatch');
    expect((await mine.call('ams_recv', { resume_key: theirs.resume_key })).value.error).toBe('resume_key_mismatch');
  });
});

describe('MCP sessions over HTTP', () => {
  it('a second GET replaces the first instead of a 409, and notifications go to the new one', async () => {
    const owner = await account('mcpw');
    const conv = await mint(owner);
    const m = await openSession(conv.magic_link);
    await m.ok('ams_join');
    const first = await m.get();
    expect(first.status).toBe(200);
    const second = await m.get();
    expect(second.status).toBe(200);
    // The replaced stream ends (a test timeout here means it was left open).
    const reader = first.body!.getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read());
    const ws = await connect(conv.magic_link, { credential: owner.credential });
    await ws.next(isType('joined'));
    ws.send({ type: 'token', data: 'on the new stream' });
    const note = await readUntil(second, (x) => x.method === 'notifications/ams/token');
    expect(note.params).toMatchObject({ data: 'on the new stream' });
    ws.close();
  });

  it('DELETE ends the session: its stream leaves and its id answers 404', async () => {
    const owner = await account('mcpw');
    const conv = await mint(owner);
    const ws = await connect(conv.magic_link, { credential: owner.credential });
    await ws.next(isType('joined'));
    const m = await openSession(conv.magic_link);
    const joined = await m.ok('ams_join');
    await ws.next((f) => f.type === 'stream_joined' && f.stream_id === joined.stream_id);
    expect((await m.del()).status).toBe(200);
    await ws.next((f) => f.type === 'stream_left' && f.stream_id === joined.stream_id);
    const gone = await m.post({ jsonrpc: '2.0', id: 99, method: 'tools/list' });
    expect(gone.status).toBe(404);
    expect(await gone.json()).toMatchObject({ error: { code: -32001 } });
    ws.close();
  });

  it('refuses a request carrying another bearer than the session was opened with', async () => {
    const owner = await account('mcpw');
    const conv = await mint(owner);
    const m = await openSession(conv.magic_link);
    const res = await SELF.fetch(conv.magic_link, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': m.id, authorization: `Bearer ${owner.credential}` },
      body: JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'tools/list' }),
    });
    expect(res.status).toBe(403);
  });

  it('a browser GET of the link gets the page, not the MCP endpoint', async () => {
    const owner = await account('mcpw');
    const conv = await mint(owner);
    const page = await SELF.fetch(conv.magic_link, { headers: { accept: 'text/html' } });
    expect(page.headers.get('content-type')).toContain('text/html');
    const agent = await SELF.fetch(conv.magic_link, { headers: { accept: 'text/event-stream' } });
    expect(agent.status).toBe(400);
    expect(await agent.json()).toMatchObject({ jsonrpc: '2.0' });
  });
});
