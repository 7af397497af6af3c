/**
 * MCP revision 2026-07-28 (stateless) end to end, in raw HTTP as the revision
 * specifies it: every POST carries its `_meta` envelope and the
 * `MCP-Protocol-Version`/`Mcp-Method`/`Mcp-Name` headers; no session. Against
 * a real `wrangler dev`, beside real WebSocket peers.
 */
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { AmsClient, AmsSocket, type Account, type Minted, type WebSocketConstructor } from '../../src/client';
import { signResumeKey } from '../../src/mcp/resume-key';
import { mcpAgent } from './mcp-client';
import { waitFor, sharedBroker } from './support';

const VERSION = '2026-07-28';
const { broker } = sharedBroker();
let api: AmsClient;
let owner: Account;
let n = 0;
const sockets: AmsSocket[] = [];

beforeAll(async () => {
  api = new AmsClient(broker.url);
  owner = await api.createAccount(`mcp2026-${Date.now().toString(36)}`);
});
afterAll(async () => {
  for (const s of sockets) s.close();
});

const conversation = (): Promise<Minted> => api.createConversation(owner, { alias: `sl-${Date.now().toString(36)}-${n++}` });

function meta(client = 'ams-e2e') {
  return {
    'io.modelcontextprotocol/protocolVersion': VERSION,
    'io.modelcontextprotocol/clientCapabilities': {},
    'io.modelcontextprotocol/clientInfo': { name: client, version: '1.0.0' },
  };
}

interface Sent {
  status: number;
  body: any;
  headers: Headers;
}

/** One JSON-RPC request as a 2026-07-28 client sends it; `headers` override the computed ones. */
async function post(url: string, method: string, params: Record<string, unknown> = {}, opts: { headers?: Record<string, string>; credential?: string; client?: string } = {}): Promise<Sent> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': VERSION,
    'mcp-method': method,
  };
  if (typeof params.name === 'string') headers['mcp-name'] = params.name;
  if (opts.credential) headers.authorization = `Bearer ${opts.credential}`;
  Object.assign(headers, opts.headers);
  const res = await fetch(url, {
    method: 'POST',
    headers,
    body: JSON.stringify({ jsonrpc: '2.0', id: ++n, method, params: { _meta: meta(opts.client), ...params } }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
}

/** A tools/call; returns the tool's structured result and whether it is an error. */
async function call(url: string, name: string, args: Record<string, unknown> = {}, credential?: string) {
  const r = await post(url, 'tools/call', { name, arguments: args }, { credential });
  expect(r.status).toBe(200);
  expect(r.body.result.resultType).toBe('complete');
  return { isError: r.body.result.isError === true, value: r.body.result.structuredContent as Record<string, any> };
}

async function ok(url: string, name: string, args: Record<string, unknown> = {}, credential?: string) {
  const r = await call(url, name, args, credential);
  if (r.isError) throw new Error(`${name} failed: ${JSON.stringify(r.value)}`);
  return r.value;
}

function socket(link: string): AmsSocket {
  const s = AmsSocket.open(link, { credential: owner.credential, WebSocket: WebSocket as unknown as WebSocketConstructor });
  sockets.push(s);
  return s;
}

const endpoints = (c: Minted) => {
  const u = new URL(c.magic_link);
  return { link: c.magic_link, mcpPath: `${u.origin}${u.pathname}/mcp${u.search}`, bare: `${u.origin}/mcp` };
};

describe('server/discover', () => {
  it('answers on the magic link, {link}/mcp and bare /mcp with both revisions, the capabilities and the instructions', async () => {
    const c = await conversation();
    for (const url of Object.values(endpoints(c))) {
      const r = await post(url, 'server/discover');
      expect(r.status, url).toBe(200);
      expect(r.body.result).toMatchObject({ resultType: 'complete', supportedVersions: ['2026-07-28', '2025-11-25'], capabilities: { tools: {} } });
      expect(r.body.result.instructions).toContain('pass the resume_key');
      expect(r.body.result._meta['io.modelcontextprotocol/serverInfo'].name).toBe('ams');
    }
  });

  it('offers Claude Code 2025-11-25 only, so it keeps its channel push (decision 0086)', async () => {
    const r = await post(`${broker.url}/mcp`, 'server/discover', {}, { client: 'claude-code' });
    expect(r.status).toBe(200);
    expect(r.body.result.supportedVersions).toEqual(['2025-11-25']);
  });

  it('tools/list carries resultType and a public cache hint, and every tool takes resume_key', async () => {
    const r = await post(`${broker.url}/mcp`, 'tools/list');
    expect(r.status).toBe(200);
    expect(r.body.result).toMatchObject({ resultType: 'complete', cacheScope: 'public', ttlMs: 3_600_000 });
    for (const t of r.body.result.tools) {
      if (t.name === 'ams_create_conversation') continue;
      expect(t.inputSchema.properties.resume_key.description, t.name).toContain('pass it on every call');
    }
  });
});

describe('stateless agents', () => {
  it('two agents join, send and receive across independent requests by resume_key, and a WebSocket peer hears them', async () => {
    const c = await conversation();
    const ws = socket(c.magic_link);
    await ws.joined;
    const { link, bare } = endpoints(c);
    const a = await ok(link, 'ams_join', { stream_name: 'alice' });
    const b = await ok(bare, 'ams_join', { magic_link: c.magic_link, stream_name: 'bob' });
    expect(a.account_id).not.toBe(b.account_id);

    const sent = await ok(link, 'ams_send', { data: 'hello from alice', resume_key: a.resume_key });
    expect(sent.seq).toBeGreaterThan(0);
    const got = await ok(bare, 'ams_recv', { wait_ms: 5_000, resume_key: b.resume_key, format: 'frames' });
    expect(got.frames.filter((f: any) => f.type === 'token').map((f: any) => [f.stream_id, f.data])).toEqual([[a.stream_id, 'hello from alice']]);

    // The cursor lives with the membership: the next call continues after what was read.
    await ok(bare, 'ams_send', { data: 'hi alice', resume_key: b.resume_key });
    const back = await ok(link, 'ams_recv', { wait_ms: 5_000, resume_key: a.resume_key, format: 'frames' });
    expect(back.frames.filter((f: any) => f.type === 'token').map((f: any) => f.data)).toEqual(['hi alice']);
    const again = await ok(bare, 'ams_recv', { resume_key: b.resume_key, format: 'frames' });
    expect(again.frames.filter((f: any) => f.type === 'token')).toEqual([]);

    await waitFor(() => ws.frames.filter((f) => f.type === 'token').length >= 2, 20_000, 'the peer hears both');
    expect(ws.frames.filter((f) => f.type === 'token').map((f: any) => [f.stream_id, f.data])).toEqual([
      [a.stream_id, 'hello from alice'],
      [b.stream_id, 'hi alice'],
    ]);
    const peers = await ok(link, 'ams_peers', { resume_key: a.resume_key });
    expect(peers.peers.map((p: any) => p.stream_id)).toEqual(expect.arrayContaining([b.stream_id]));
  });

  it('a long ams_recv is not displaced by a send of the same holder', async () => {
    const c = await conversation();
    const a = await ok(c.magic_link, 'ams_join', {});
    const b = await ok(c.magic_link, 'ams_join', {});
    const waiting = call(c.magic_link, 'ams_recv', { wait_ms: 15_000, resume_key: a.resume_key, format: 'frames' });
    await new Promise((r) => setTimeout(r, 300));
    await ok(c.magic_link, 'ams_send', { data: 'meanwhile', resume_key: a.resume_key });
    await ok(c.magic_link, 'ams_send', { data: 'for a', resume_key: b.resume_key });
    const first = await waiting;
    expect(first.isError).toBe(false);
    const tokens: string[] = first.value.frames.filter((f: any) => f.type === 'token').map((f: any) => f.data);
    for (let i = 0; i < 5 && tokens.length === 0; i++) {
      const got = await ok(c.magic_link, 'ams_recv', { wait_ms: 5_000, resume_key: a.resume_key, format: 'frames' });
      tokens.push(...got.frames.filter((f: any) => f.type === 'token').map((f: any) => f.data));
    }
    expect(tokens).toEqual(['for a']);
  });

  it('one membership moves between a 2025-11-25 session and stateless calls by its resume_key', async () => {
    const c = await conversation();
    const session = await mcpAgent(c.magic_link);
    try {
      const joined = await session.ok('ams_join', { stream_name: 'mover' });
      const peer = await ok(c.magic_link, 'ams_join', {});
      // A stateless call with the session's key continues the same stream (and displaces the session).
      const sent = await ok(c.magic_link, 'ams_send', { data: 'now stateless', resume_key: joined.resume_key });
      const heard = await ok(c.magic_link, 'ams_recv', { wait_ms: 5_000, resume_key: peer.resume_key, format: 'frames' });
      expect(heard.frames.filter((f: any) => f.type === 'token').map((f: any) => [f.stream_id, f.data, f.seq])).toEqual([[joined.stream_id, 'now stateless', sent.seq]]);
      const displaced = await session.call('ams_send', { data: 'from the old session' });
      expect(displaced.isError).toBe(true);
      expect(displaced.value).toMatchObject({ error: 'stream_displaced' });
      // The session takes it back the same way, and the stateless holder takes it again.
      await session.ok('ams_join', { resume_key: joined.resume_key });
      await session.ok('ams_send', { data: 'session again' });
      await ok(c.magic_link, 'ams_send', { data: 'stateless again', resume_key: joined.resume_key });
      const tokens: string[] = [];
      for (let i = 0; i < 5 && tokens.length < 2; i++) {
        const got = await ok(c.magic_link, 'ams_recv', { wait_ms: 5_000, resume_key: peer.resume_key, format: 'frames' });
        tokens.push(...got.frames.filter((f: any) => f.type === 'token').map((f: any) => f.data));
      }
      expect(tokens).toEqual(['session again', 'stateless again']);
    } finally {
      await session.close().catch(() => {});
    }
  });

  it('two anonymous joins with two streams', async () => {
    const c = await conversation();
    const one = await ok(c.magic_link, 'ams_join', {});
    const two = await ok(c.magic_link, 'ams_join', {});
    expect(one.account_id).toMatch(/^acc_/);
    expect(two.account_id).toMatch(/^acc_/);
    expect(one.account_id).not.toBe(two.account_id);
    expect(one.stream_id).not.toBe(two.stream_id);
  });

  it('a bearer acts as its account; a resume_key of another account is refused', async () => {
    const c = await conversation();
    const mine = await ok(c.magic_link, 'ams_join', {}, owner.credential);
    expect(mine.account_id).toBe(owner.account_id);
    const anon = await ok(c.magic_link, 'ams_join', {});
    const r = await call(c.magic_link, 'ams_send', { data: 'x', resume_key: anon.resume_key }, owner.credential);
    expect(r).toMatchObject({ isError: true, value: { error: 'resume_key_mismatch' } });
    const bad = await call(c.magic_link, 'ams_join', {}, 'ams_sk_not-a-real-credential');
    expect(bad).toMatchObject({ isError: true, value: { error: 'invalid_credential' } });
  });

  it('ams_create_conversation without a bearer returns a resume_key that speaks as the new owner', async () => {
    const made = await ok(`${broker.url}/mcp`, 'ams_create_conversation', {});
    expect(made.credential).toMatch(/^ams_sk_/);
    expect(made.resume_key).toMatch(/^amsrk_/);
    const sent = await ok(`${broker.url}/mcp`, 'ams_send', { data: 'first words', resume_key: made.resume_key });
    expect(sent.seq).toBeGreaterThan(0);
    // A peer hears it on the minted (owner's) stream.
    const peer = await ok(made.magic_link, 'ams_join', { since: 0 });
    const heard = await ok(made.magic_link, 'ams_recv', { resume_key: peer.resume_key, format: 'frames' });
    expect(heard.frames.filter((f: any) => f.type === 'token').map((f: any) => [f.stream_id, f.data])).toEqual([[made.stream_id, 'first words']]);
  });
});

describe('the SDK v2 client (@modelcontextprotocol/client)', () => {
  async function client(url: string): Promise<Client> {
    const c = new Client({ name: 'ams-e2e-v2', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
    await c.connect(new StreamableHTTPClientTransport(new URL(url)));
    return c;
  }
  const result = async (c: Client, name: string, args: Record<string, unknown>) => {
    const r = await c.callTool({ name, arguments: args });
    if (r.isError) throw new Error(`${name} failed: ${JSON.stringify(r.structuredContent)}`);
    return r.structuredContent as Record<string, any>;
  };

  it('negotiates 2026-07-28 and two agents talk by resume_key while a WebSocket peer hears them', async () => {
    const conv = await conversation();
    const ws = socket(conv.magic_link);
    await ws.joined;
    const [a, b] = [await client(conv.magic_link), await client(`${broker.url}/mcp`)];
    try {
      expect(a.getProtocolEra()).toBe('modern');
      expect(a.getNegotiatedProtocolVersion()).toBe('2026-07-28');
      expect(a.getDiscoverResult()?.supportedVersions).toEqual(['2026-07-28', '2025-11-25']);
      expect(a.getInstructions()).toContain('pass the resume_key');
      const ja = await result(a, 'ams_join', { stream_name: 'v2-a' });
      const jb = await result(b, 'ams_join', { magic_link: conv.magic_link, stream_name: 'v2-b' });
      await result(a, 'ams_send', { data: 'over the v2 client', resume_key: ja.resume_key });
      const got = await result(b, 'ams_recv', { wait_ms: 5_000, resume_key: jb.resume_key, format: 'frames' });
      expect(got.frames.filter((f: any) => f.type === 'token').map((f: any) => [f.stream_id, f.data])).toEqual([[ja.stream_id, 'over the v2 client']]);
      const heard = await ws.next((f) => f.type === 'token' && f.stream_id === ja.stream_id);
      expect(heard).toMatchObject({ data: 'over the v2 client', stream_name: 'v2-a' });
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe('bad input, as the revision words it', () => {
  it('a call without resume_key, an altered one and a foreign one are tool errors, never another identity', async () => {
    const c = await conversation();
    const a = await ok(c.magic_link, 'ams_join', {});
    expect(await call(c.magic_link, 'ams_send', { data: 'x' })).toMatchObject({ isError: true, value: { error: 'not_joined' } });
    const k: string = a.resume_key;
    const altered = k.slice(0, 10) + (k[10] === 'A' ? 'B' : 'A') + k.slice(11);
    expect(await call(c.magic_link, 'ams_send', { data: 'x', resume_key: altered })).toMatchObject({ isError: true, value: { error: 'invalid_resume_key' } });
    const claims = JSON.parse(Buffer.from(k.slice(6).split('.')[0], 'base64url').toString());
    const foreign = signResumeKey('another broker\'s secret', {
      ns: claims[1], alias: claims[2], conversation_id: claims[3], member_id: claims[4], account_id: claims[5], generation: claims[6],
    });
    expect(await call(c.magic_link, 'ams_recv', { resume_key: foreign })).toMatchObject({ isError: true, value: { error: 'invalid_resume_key' } });
  });

  it('an unsupported version is 400 -32022 listing both revisions', async () => {
    const r = await post(`${broker.url}/mcp`, 'tools/list', { _meta: { ...meta(), 'io.modelcontextprotocol/protocolVersion': '2099-01-01' } }, { headers: { 'mcp-protocol-version': '2099-01-01' } });
    expect(r.status).toBe(400);
    expect(r.body.id).toBe(n);
    expect(r.body.error).toMatchObject({ code: -32022, data: { supported: ['2026-07-28', '2025-11-25'], requested: '2099-01-01' } });
  });

  it('missing _meta keys are 400 -32602', async () => {
    const { 'io.modelcontextprotocol/clientCapabilities': _, ...partial } = meta();
    const r = await post(`${broker.url}/mcp`, 'tools/list', { _meta: partial });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe(-32602);
  });

  it('Mcp-Method or Mcp-Name disagreeing with the body is 400 -32020', async () => {
    const m = await post(`${broker.url}/mcp`, 'tools/list', {}, { headers: { 'mcp-method': 'tools/call' } });
    expect(m.status).toBe(400);
    expect(m.body.error.code).toBe(-32020);
    const c = await conversation();
    const nm = await post(c.magic_link, 'tools/call', { name: 'ams_join', arguments: {} }, { headers: { 'mcp-name': 'ams_leave' } });
    expect(nm.status).toBe(400);
    expect(nm.body.error.code).toBe(-32020);
  });

  it('subscriptions/listen is acknowledged with nothing honoured (nothing AMS has is in its vocabulary)', async () => {
    const ctl = new AbortController();
    const res = await fetch(`${broker.url}/mcp`, {
      method: 'POST',
      signal: ctl.signal,
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': VERSION, 'mcp-method': 'subscriptions/listen' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 'listen-1', method: 'subscriptions/listen', params: { _meta: meta(), notifications: { toolsListChanged: true } } }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = res.body!.getReader();
    let text = '';
    while (!text.includes('\n\n')) text += new TextDecoder().decode((await reader.read()).value);
    ctl.abort();
    const ack = JSON.parse(text.split('\n').find((l) => l.startsWith('data:'))!.slice(5));
    expect(ack.method).toBe('notifications/subscriptions/acknowledged');
    expect(ack.params._meta['io.modelcontextprotocol/subscriptionId']).toBe('listen-1');
    expect(ack.params.notifications.toolsListChanged).toBeFalsy();
  });
});
