/**
 * A conversation's instructions (its purpose) inside real workerd: set at mint
 * and by the owner's PATCH, told by inspect to link holders and the owner,
 * put in front of every agent by `initialize`, `server/discover` and
 * `ams_join`, and a change heard by everyone as `x_conversation_updated` —
 * the owner's own sockets, peers, observers on audience shards and MCP members.
 * Also ams_join's recap, which tells what was said before and moves no cursor.
 */
import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { verifyChain } from '../../src/client/chain';
import type { LoggedFrame } from '../../src/protocol/frames';
import { account, connect, inspect, isType, mint } from './support';
import { openSession } from './mcp-support';
import { ORIGIN, type TestAccount } from '../fuzz/workerd';

const PURPOSE = 'Review PR 12 together.\nAlice owns the tests; say @alice when one fails.';

function patch(owner: TestAccount, alias: string, body: unknown, credential = owner.credential): Promise<Response> {
  return SELF.fetch(`${ORIGIN}/v1/${owner.namespace}/conversations/${alias}`, {
    method: 'PATCH', headers: { 'content-type': 'application/json', authorization: `Bearer ${credential}` }, body: JSON.stringify(body),
  });
}

async function inspectWith(path: string, headers: Record<string, string> = {}): Promise<Record<string, any>> {
  const res = await SELF.fetch(`${ORIGIN}${path}`, { headers });
  expect(res.status).toBe(200);
  return res.json();
}

const META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientCapabilities': {},
  'io.modelcontextprotocol/clientInfo': { name: 'workers-test', version: '1' },
};

async function discover(url: string): Promise<Record<string, any>> {
  const res = await SELF.fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'server/discover' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'server/discover', params: { _meta: META } }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { result: Record<string, any> }).result;
}

async function initializeInstructions(url: string): Promise<string> {
  const res = await SELF.fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'workers-test', version: '1' } } }),
  });
  const body = await res.text();
  if (res.status !== 200) throw new Error(`initialize: ${res.status} ${body}`);
  // The first data line may be the stream's priming event (empty data): the answer is the line that holds JSON.
  const line = body.split('\n').find((l) => l.startsWith('data: {'));
  if (!line) throw new Error(`initialize: no data line in ${body}`);
  return JSON.parse(line.slice(6)).result.instructions;
}

describe('instructions', () => {
  it('are set at mint and told by inspect to the owner and to link holders, not to another account without the link', async () => {
    const owner = await account('ins');
    const other = await account('ins');
    const conv = await mint(owner, { instructions: PURPOSE });
    expect((conv as unknown as { instructions: string }).instructions).toBe(PURPOSE);
    expect((await inspect(owner, conv.alias)).instructions).toBe(PURPOSE);
    const path = `/v1/${owner.namespace}/conversations/${conv.alias}`;
    const t = new URL(conv.observer_link).searchParams.get('t')!;
    expect((await inspectWith(`${path}?t=${t}`)).instructions).toBe(PURPOSE);
    const stranger = await inspectWith(path, { authorization: `Bearer ${other.credential}` });
    expect(stranger.conversation_id).toBe(conv.conversation_id);
    expect(stranger).not.toHaveProperty('instructions');
    expect((await inspectWith(`${path}?t=${t}`, { authorization: `Bearer ${other.credential}` })).instructions).toBe(PURPOSE);
  });

  it('refuses instructions that are not plain text of at most 2,000 characters, at mint and in a PATCH', async () => {
    const owner = await account('ins');
    const mintRaw = (body: unknown) => SELF.fetch(`${ORIGIN}/v1/${owner.namespace}/conversations`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${owner.credential}` }, body: JSON.stringify(body),
    });
    for (const bad of ['x'.repeat(2_001), 42, { text: 'hi' }, 'bell\u0007', 'escape \u001b[2J']) {
      const res = await mintRaw({ instructions: bad });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: string }).error).toBe('invalid_instructions');
    }
    // 2,000 characters of astral text are 4,000 UTF-16 units, still within the limit.
    expect((await mintRaw({ instructions: '🙂'.repeat(2_000) })).status).toBe(201);
    const conv = await mint(owner);
    for (const bad of [{ instructions: 'x'.repeat(2_001) }, { instructions: null }, {}]) {
      const res = await patch(owner, conv.alias, bad);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: string }).error).toBe('invalid_instructions');
    }
    const meta = await patch(owner, conv.alias, { instructions: 'ok', metadata: { topic: 'new' } });
    expect(meta.status).toBe(400);
    expect(await meta.json()).toMatchObject({ error: 'invalid_metadata', message: expect.stringContaining('immutable') });
    const stranger = await account('ins');
    const forbidden = await patch(owner, conv.alias, { instructions: 'mine now' }, stranger.credential);
    expect(forbidden.status).toBe(403);
    // Nothing refused changed anything.
    expect((await inspect(owner, conv.alias)).instructions).toBe('');
    expect((await inspect(owner, conv.alias)).head_seq).toBe(0);
  });

  it('a PATCH is heard by everyone as x_conversation_updated: the owner\'s socket, a peer, an observer, an MCP member', async () => {
    const owner = await account('ins');
    const conv = await mint(owner, { instructions: 'first purpose' });
    const own = await connect(conv.magic_link, { credential: owner.credential, params: { integrity: 'chain' } });
    const ownJoined = await own.next(isType('joined'));
    const peerAccount = await account('ins');
    const peer = await connect(conv.magic_link, { credential: peerAccount.credential });
    await peer.next(isType('joined'));
    const observer = await connect(conv.observer_link);
    await observer.next(isType('joined'));
    const member = await openSession(conv.magic_link);
    await member.ok('ams_join');

    const res = await patch(owner, conv.alias, { instructions: PURPOSE });
    expect(res.status).toBe(200);
    const { seq } = (await res.json()) as { seq: number };
    const expected = { type: 'x_conversation_updated', conversation_id: conv.conversation_id, instructions: PURPOSE, seq };
    for (const s of [own, peer, observer]) expect(await s.next(isType('x_conversation_updated'))).toMatchObject({ ...expected, ts: expect.any(String) });
    // The owner hears it although it owns the conversation, and the chain still verifies across it.
    const logged = own.frames.filter((f) => 'seq' in f && f.type !== 'joined') as Array<LoggedFrame & { chain?: string }>;
    expect(verifyChain(logged, { seq: (ownJoined as { seq: number }).seq, chain: (ownJoined as { head_chain: string }).head_chain }).ok).toBe(true);

    const text = await member.call('ams_recv', { wait_ms: 5_000 });
    expect(text.text).toContain(`[${seq}] (the conversation's instructions changed; the owner's words follow): Review PR 12 together.\n  Alice owns the tests`);
    const frames = await member.ok('ams_recv', { since: seq - 1, format: 'frames' });
    expect(frames.frames).toEqual([expect.objectContaining(expected)]);
    const entries = await member.ok('ams_recv', { since: seq - 1, format: 'entries' });
    expect(entries.entries).toEqual([{ kind: 'instructions', seq, instructions: PURPOSE }]);
    expect((await inspect(owner, conv.alias)).instructions).toBe(PURPOSE);
    for (const s of [own, peer, observer]) s.close();
  });

  it('reach initialize (2025-11-25), server/discover (2026-07-28) and ams_join, after AMS\'s guidance and quoted as the owner\'s words', async () => {
    const owner = await account('ins');
    const conv = await mint(owner, { instructions: PURPOSE });
    const init = await initializeInstructions(conv.magic_link);
    expect(init).toContain('AMS puts you in a live conversation');
    expect(init.indexOf('# This conversation\'s instructions')).toBeGreaterThan(init.indexOf('ams_send'));
    expect(init).toContain('> Review PR 12 together.\n> Alice owns the tests');
    expect((await discover(conv.magic_link)).instructions).toContain('> Review PR 12 together.');
    expect((await discover(`${ORIGIN}/mcp`)).instructions).not.toContain('This conversation\'s instructions');
    const joined = await (await openSession(conv.observer_link)).ok('ams_join');
    expect(joined.instructions).toBe(PURPOSE);
    // A changed text reaches the sessions opened after the change.
    expect((await patch(owner, conv.alias, { instructions: 'Now: ship it.' })).status).toBe(200);
    expect(await initializeInstructions(conv.magic_link)).toContain('> Now: ship it.');
    // The longest instructions still fit under the 4,096 characters a client keeps.
    expect((await patch(owner, conv.alias, { instructions: 'y\n'.repeat(999) + 'z' })).status).toBe(200);
    const longest = await initializeInstructions(conv.magic_link);
    expect(longest.length).toBeLessThan(4_096);
    expect(longest).toContain('ams_join returns them whole');
  });
});

describe('ams_join recap', () => {
  it('tells the last N completed messages, without moving where ams_recv starts', async () => {
    const owner = await account('rcp');
    const conv = await mint(owner);
    const speaker = await openSession(conv.magic_link);
    await speaker.ok('ams_join', { stream_name: 'alice' });
    for (let i = 1; i <= 12; i++) await speaker.ok('ams_send', { data: `message ${i}` });
    const late = await openSession(conv.magic_link);
    const joined = await late.ok('ams_join');
    expect(joined.recap.map((m: { text: string }) => m.text)).toEqual(Array.from({ length: 10 }, (_, i) => `message ${i + 3}`));
    expect(joined.recap[0]).toMatchObject({ from: 'alice', first_seq: expect.any(Number), last_seq: expect.any(Number) });
    expect((await late.call('ams_recv')).text).toBe('(nothing new)');
    const three = await (await openSession(conv.magic_link)).ok('ams_join', { recap: 3 });
    expect(three.recap.map((m: { text: string }) => m.text)).toEqual(['message 10', 'message 11', 'message 12']);
    expect((await (await openSession(conv.magic_link)).ok('ams_join', { recap: 0 })).recap).toEqual([]);
    expect((await late.call('ams_join', { recap: -1 })).value.error).toBe('invalid_arguments');
  });

  it('is empty, and says why, when the conversation keeps no history', async () => {
    const owner = await account('rcp');
    const conv = await mint(owner, { history: { max_frames: 0 } });
    const speaker = await openSession(conv.magic_link);
    await speaker.ok('ams_join');
    await speaker.ok('ams_send', { data: 'gone with the wind' });
    const joined = await (await openSession(conv.magic_link)).ok('ams_join');
    expect(joined.recap).toEqual([]);
    expect(joined.recap_note).toContain('keeps no history');
  });
});
