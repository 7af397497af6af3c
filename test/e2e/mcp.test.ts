/**
 * The magic link as an MCP server, end to end: the official SDK client
 * (StreamableHTTPClientTransport) against a real `wrangler dev`, next to real
 * WebSocket agents.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { AmsClient, AmsSocket, type Account, type Minted, type WebSocketConstructor } from '../../src/client';
import { mcpAgent, recvTokens, type McpAgent } from './mcp-client';
import { sharedBroker } from './support';

const { broker } = sharedBroker();
let api: AmsClient;
let owner: Account;
const open: McpAgent[] = [];
let n = 0;

beforeAll(async () => {
  api = new AmsClient(broker.url);
  owner = await api.createAccount(`mcp-e2e-${Date.now().toString(36)}`);
});
afterAll(async () => {
  await Promise.all(open.map((a) => a.close().catch(() => {})));
});

async function agent(url: string, credential?: string): Promise<McpAgent> {
  const a = await mcpAgent(url, { credential });
  open.push(a);
  return a;
}

async function conversation(body: Record<string, unknown> = {}): Promise<Minted> {
  return api.createConversation(owner, { alias: `mcp-${Date.now().toString(36)}-${n++}`, ...body });
}

function socket(link: string, credential = owner.credential, streamName?: string): AmsSocket {
  return AmsSocket.open(link, { credential, streamName, WebSocket: WebSocket as unknown as WebSocketConstructor });
}

const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
const INIT = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'curl', version: '1' } } };

/** The JSON-RPC messages of an SSE response body. */
function sseMessages(text: string): Record<string, any>[] {
  return text.split('\n').filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6)));
}

describe('two MCP agents on one magic link', () => {
  it('exchange tokens through ams_send and ams_recv, each never hearing itself', async () => {
    const conv = await conversation();
    const a = await agent(conv.magic_link);
    const b = await agent(conv.magic_link);
    const ja = await a.ok('ams_join', { stream_name: 'alice' });
    const jb = await b.ok('ams_join', { stream_name: 'bob' });
    expect(ja.account_id).not.toBe(jb.account_id);
    expect(jb.peers.map((p: { stream_name: string }) => p.stream_name)).toContain('alice');

    await a.ok('ams_send', { data: 'hello from alice' });
    const atB = await recvTokens(b, 1);
    expect(atB[0]).toMatchObject({ type: 'token', data: 'hello from alice', stream_id: ja.stream_id });

    const sent = await b.ok('ams_send', { data: 'hello from bob', ref: atB[0].seq });
    const atA = await recvTokens(a, 1);
    expect(atA).toHaveLength(1);
    expect(atA[0]).toMatchObject({ data: 'hello from bob', stream_id: jb.stream_id, seq: sent.seq, ref: atB[0].seq });
  });
});

describe('a WebSocket agent and an MCP agent', () => {
  it('talk both ways, and the MCP agent is a connected peer while it holds its stream', async () => {
    const conv = await conversation();
    const ws = socket(conv.magic_link);
    await ws.joined;
    const m = await agent(conv.magic_link);
    const joined = await m.ok('ams_join', { stream_name: 'mcp-agent', stream_metadata: { kind: 'mcp' } });
    const announced = await ws.next((f) => f.type === 'stream_joined' && f.stream_id === joined.stream_id);
    expect(announced).toMatchObject({ stream_name: 'mcp-agent', metadata: { kind: 'mcp' } });

    ws.send('from the socket');
    const heard = await recvTokens(m, 1);
    expect(heard[0]).toMatchObject({ data: 'from the socket', stream_id: conv.stream_id });

    const { seq } = await m.ok('ams_send', { data: 'from mcp' });
    const token = await ws.next((f) => f.type === 'token' && f.stream_id === joined.stream_id);
    expect(token).toMatchObject({ data: 'from mcp', seq, stream_name: 'mcp-agent' });

    await m.ok('ams_leave');
    await ws.next((f) => f.type === 'stream_left' && f.stream_id === joined.stream_id);
    await ws.close();
  });
});

describe('notifications', () => {
  it('reach a client holding the GET stream as notifications/ams/token', async () => {
    const conv = await conversation();
    const m = await agent(conv.magic_link);
    const joined = await m.ok('ams_join');
    const ws = socket(conv.magic_link);
    await ws.joined;
    ws.send('pushed to you');
    // No tool call from here on: the notification can only come over the GET stream.
    const note = await m.note((x) => x.method === 'notifications/ams/token');
    expect(note.params).toMatchObject({ data: 'pushed to you', stream_id: conv.stream_id });
    expect(note.params).not.toHaveProperty('type');
    expect((note.params!.seq as number)).toBeGreaterThan(joined.seq);
    await ws.close();
  });

  it('ride along on tool responses for a client without a GET stream', async () => {
    const conv = await conversation();
    const post = async (sid: string | undefined, body: unknown) => {
      const res = await fetch(conv.magic_link, {
        method: 'POST', body: JSON.stringify(body),
        headers: { ...MCP_HEADERS, ...(sid ? { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' } : {}) },
      });
      return { res, messages: sseMessages(await res.text()) };
    };
    const init = await post(undefined, INIT);
    const sid = init.res.headers.get('mcp-session-id')!;
    await post(sid, { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'ams_join', arguments: {} } });
    const ws = AmsSocket.open(conv.magic_link, { credential: owner.credential, receipts: true, WebSocket: WebSocket as unknown as WebSocketConstructor });
    await ws.joined;
    ws.send('ride along');
    await ws.next((f) => f.type === 'x_receipt'); // logged
    const peers = await post(sid, { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'ams_peers', arguments: {} } });
    const token = peers.messages.find((m) => m.method === 'notifications/ams/token');
    expect(token?.params).toMatchObject({ data: 'ride along' });
    expect(peers.messages.at(-1)).toMatchObject({ id: 3, result: { structuredContent: { peers: [{ stream_id: conv.stream_id }] } } });
    await ws.close();
  });
});

describe('resume_key', () => {
  it('lets a new MCP session continue the same stream from the same cursor, missing nothing', async () => {
    const conv = await conversation();
    const ws = socket(conv.magic_link);
    await ws.joined;
    const first = await agent(conv.magic_link);
    const joined = await first.ok('ams_join', { stream_name: 'turn-taker' });
    ws.send('before');
    expect((await recvTokens(first, 1))[0].data).toBe('before');
    await first.close(); // abandoned, as a client that opens a session per turn does

    for (const t of ['one', 'two', 'three']) ws.send(t);
    const second = await agent(conv.magic_link);
    const got = await recvTokens(second, 3, { resume_key: joined.resume_key });
    expect(got.map((f) => f.data)).toEqual(['one', 'two', 'three']);

    const { seq } = await second.ok('ams_send', { data: 'same stream', resume_key: joined.resume_key });
    const echoed = await ws.next((f) => f.type === 'token' && f.seq === seq);
    expect(echoed).toMatchObject({ stream_id: joined.stream_id, owner_account_id: joined.account_id, data: 'same stream' });
    const stillJoined = ws.frames.filter((f) => f.type === 'stream_left' && f.stream_id === joined.stream_id);
    expect(stillJoined).toHaveLength(0);
    await ws.close();
  });
});

describe('the bare /mcp endpoint', () => {
  it('creates a conversation, then joins it by its magic link', async () => {
    const m = await agent(`${broker.url}/mcp`);
    const created = await m.ok('ams_create_conversation', { stream_name: 'creator', metadata: { topic: 'e2e' } });
    expect(created.magic_link).toMatch(/\/conversations\/.+\?t=/);
    expect(created.credential).toMatch(/^ams_sk_/);
    const joined = await m.ok('ams_join', { magic_link: created.magic_link });
    expect(joined).toMatchObject({ stream_id: created.stream_id, stream_name: 'creator', conversation_id: created.conversation_id });

    const guest = await agent(created.magic_link);
    await guest.ok('ams_join');
    await guest.ok('ams_send', { data: 'hi creator' });
    expect((await recvTokens(m, 1))[0]).toMatchObject({ data: 'hi creator' });
  });
});

describe('bad input gets a precise error and breaks nothing', () => {
  it('answers each mistake with its own error code, and the session keeps working', async () => {
    const conv = await conversation();
    const other = await conversation();
    const m = await agent(conv.magic_link);
    expect((await m.call('ams_send', { data: 'too early' })).value.error).toBe('not_joined');
    expect((await m.call('ams_recv', { wait_ms: 99_999 })).value.error).toBe('invalid_arguments');
    expect((await m.call('ams_send', { text: 'no data' })).value.error).toBe('invalid_arguments');
    const tampered = other.magic_link.replace(/t=(.)/, (_, c: string) => `t=${c === 'w' ? 'r' : 'w'}`);
    expect((await m.call('ams_join', { magic_link: tampered })).value.error).toBe('invalid_magic_link');
    expect((await m.call('ams_join', { magic_link: 'https://example.com/not-a-link' })).value.error).toBe('invalid_magic_link');

    const joined = await m.ok('ams_join');
    const big = await m.call('ams_send', { data: 'x'.repeat(65_537) });
    expect(big.value).toMatchObject({ error: 'token_too_large' });
    expect((await m.call('ams_send', { data: 'ok', ref: 10_000 })).value.error).toBe('invalid_ref');

    const stranger = await agent(other.magic_link);
    const theirs = await stranger.ok('ams_join');
    const mismatch = await m.call('ams_send', { data: 'as someone else', resume_key: theirs.resume_key });
    expect(mismatch.value.error).toBe('resume_key_mismatch');
    expect((await m.call('ams_recv', { resume_key: 'amsrk_forged.key' })).value.error).toBe('invalid_resume_key');

    // Still fine after all of that.
    expect((await m.ok('ams_send', { data: 'still here' })).seq).toBeGreaterThan(joined.seq);
  });

  it('refuses a revoked link, and ends a membership admitted with it', async () => {
    const conv = await conversation();
    const m = await agent(conv.magic_link);
    await m.ok('ams_join');
    const rotated = await api.rotate(owner, conv.alias);
    const after = await m.call('ams_send', { data: 'after rotation' });
    expect(after.value.error).toBe('invalid_magic_link');
    await m.note((x) => x.method === 'notifications/ams/closed' && x.params?.reason === 'invalid_magic_link');
    expect((await m.call('ams_join')).value.error).toBe('invalid_magic_link');
    expect((await m.ok('ams_join', { magic_link: rotated.magic_link })).stream_id).toMatch(/^str_/);
  });
});

describe('the HTTP surface', () => {
  it('initializes on {link}/mcp with a session id the browser may read, and lists the tools', async () => {
    const conv = await conversation();
    const url = new URL(conv.magic_link);
    url.pathname += '/mcp';
    const init = await fetch(url, { method: 'POST', headers: MCP_HEADERS, body: JSON.stringify(INIT) });
    expect(init.status).toBe(200);
    const sid = init.headers.get('mcp-session-id')!;
    expect(sid).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(init.headers.get('access-control-expose-headers')).toContain('mcp-session-id');
    const [result] = sseMessages(await init.text());
    expect(result.result.instructions).toContain('ams_recv');
    const list = await fetch(url, { method: 'POST', headers: { ...MCP_HEADERS, 'mcp-session-id': sid }, body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }) });
    const [tools] = sseMessages(await list.text());
    expect(tools.result.tools.map((t: { name: string }) => t.name).sort()).toEqual(
      ['ams_create_conversation', 'ams_join', 'ams_leave', 'ams_peers', 'ams_recv', 'ams_send', 'ams_set_metadata']);
  });

  it('answers preflight, unknown sessions, bad bearers and OAuth discovery without a 401', async () => {
    const conv = await conversation();
    const pre = await fetch(conv.magic_link, { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' } });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-headers')).toContain('mcp-session-id');
    expect(pre.headers.get('access-control-allow-origin')).toBe('*');

    const unknown = await fetch(conv.magic_link, { method: 'POST', headers: { ...MCP_HEADERS, 'mcp-session-id': 'x'.repeat(43) }, body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }) });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32001 } });

    const badBearer = await fetch(`${broker.url}/mcp`, { method: 'POST', headers: { ...MCP_HEADERS, authorization: 'Bearer ams_sk_nobody.xxx' }, body: JSON.stringify(INIT) });
    expect(badBearer.status).toBe(403);
    expect(await badBearer.json()).toMatchObject({ error: 'invalid_credential' });

    for (const path of ['/.well-known/oauth-protected-resource', '/.well-known/oauth-authorization-server', `/.well-known/oauth-protected-resource${new URL(conv.magic_link).pathname}`]) {
      const res = await fetch(`${broker.url}${path}`);
      expect(res.status, path).toBe(404);
      expect(res.headers.get('content-type'), path).toContain('application/json');
    }
  });

  it('lets a bearer session act as its account', async () => {
    const conv = await conversation();
    const m = await agent(conv.magic_link, owner.credential);
    const joined = await m.ok('ams_join');
    expect(joined).toMatchObject({ stream_id: conv.stream_id, account_id: owner.account_id });
  });
});
