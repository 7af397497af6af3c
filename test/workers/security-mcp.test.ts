/**
 * Two holders of the same magic link, both anonymous over MCP, are never the
 * same participant: each gets its own account and stream, and nothing one can
 * send without the other's secrets (its resume_key, its session) lets it act
 * as the other. Each attempt fails closed with its documented error.
 */
import { SELF } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { Bystander, connect, createAccount, heartbeat, mint, type Peer, type TestAccount, type TestConversation } from '../fuzz/workerd';
import { openSession, type RawSession } from './mcp-support';

let owner: TestAccount;
let conv: TestConversation;
let bystander: Bystander;
let keeper: Peer;
let alice: RawSession;
let bob: RawSession;
let aliceJoin: Record<string, any>;
let bobJoin: Record<string, any>;

beforeAll(async () => {
  owner = await createAccount('secm-o');
  conv = await mint(owner);
  bystander = await Bystander.open(conv.observer_link);
  keeper = await connect(conv.magic_link, { credential: owner.credential, headers: { 'x-ams-receipts': '1' } });
  await keeper.joined();
  alice = await openSession(conv.magic_link);
  bob = await openSession(conv.magic_link);
  aliceJoin = await alice.ok('ams_join', { stream_name: 'alice', stream_metadata: { who: 'alice' } });
  bobJoin = await bob.ok('ams_join', { stream_name: 'bob' });
});

describe('anonymous MCP holders of one link', () => {
  it('are two identities with two streams', () => {
    expect(aliceJoin.account_id).toMatch(/^acc_/);
    expect(bobJoin.account_id).toMatch(/^acc_/);
    expect(aliceJoin.account_id).not.toBe(bobJoin.account_id);
    expect(aliceJoin.stream_id).not.toBe(bobJoin.stream_id);
    expect(aliceJoin.resume_key).not.toBe(bobJoin.resume_key);
  });

  it("cannot take the other's stream by name, from a new session or its own", async () => {
    const third = await openSession(conv.magic_link);
    expect((await third.call('ams_join', { stream_name: 'alice' })).value.error).toBe('stream_name_conflict');
    expect((await bob.call('ams_join', { stream_name: 'alice' })).value.error).toBe('stream_name_conflict');
    // A join leaves the current membership first (PROTOCOL.md, MCP tools); bob's resume_key brings him back as himself.
    const back = await bob.ok('ams_join', { resume_key: bobJoin.resume_key });
    expect(back).toMatchObject({ stream_id: bobJoin.stream_id, account_id: bobJoin.account_id });
    const peers = await alice.ok('ams_peers');
    expect(peers.stream_id).toBe(aliceJoin.stream_id);
  });

  it("speak only as themselves: bob's tokens and metadata are bob's", async () => {
    const sent = await bob.ok('ams_send', { data: 'I am alice', id: 'impersonation' });
    await bystander.reach(sent.seq);
    expect(bystander.peer.logged().find((f) => f.seq === sent.seq)).toMatchObject({ type: 'token', stream_id: bobJoin.stream_id, owner_account_id: bobJoin.account_id, stream_name: 'bob' });
    const meta = await bob.ok('ams_set_metadata', { metadata: { who: 'alice' } });
    await bystander.reach(meta.seq);
    expect(bystander.peer.logged().find((f) => f.seq === meta.seq)).toMatchObject({ stream_id: bobJoin.stream_id });
    const inspected = (await (await SELF.fetch(`http://ams.test/v1/${owner.namespace}/conversations/${conv.alias}`, { headers: { authorization: `Bearer ${owner.credential}` } })).json()) as { streams: Array<{ stream_name: string; metadata: unknown; owner_account_id: string }> };
    expect(inspected.streams.find((s) => s.stream_name === 'alice')).toMatchObject({ metadata: { who: 'alice' }, owner_account_id: aliceJoin.account_id });
  });

  it("cannot continue the other's membership with an altered or truncated resume_key", async () => {
    const key: string = aliceJoin.resume_key;
    const flip = (i: number) => key.slice(0, i) + (key[i] === 'A' ? 'B' : 'A') + key.slice(i + 1);
    for (const forged of [flip(key.length - 1), flip(Math.floor(key.length / 2)), flip(6), key.slice(0, -4), `${key}AAAA`, 'amsrk_', 'amsrk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA']) {
      const fresh = await openSession(conv.magic_link);
      const r = await fresh.call('ams_send', { data: 'as alice?', resume_key: forged });
      expect(r.isError).toBe(true);
      expect(['invalid_resume_key', 'resume_key_mismatch']).toContain(r.value.error);
    }
    // Alice is still alice, and still holds her stream.
    const mine = await alice.ok('ams_send', { data: 'still me' });
    await bystander.reach(mine.seq);
    expect(bystander.peer.logged().find((f) => f.seq === mine.seq)).toMatchObject({ owner_account_id: aliceJoin.account_id, stream_id: aliceJoin.stream_id });
  });

  it("cannot ride the other's session id under another identity", async () => {
    const other = await createAccount('secm-x');
    const res = await SELF.fetch(conv.magic_link, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': alice.id, 'mcp-protocol-version': '2025-06-18', authorization: `Bearer ${other.credential}` },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'ams_send', arguments: { data: 'hijack' } } }),
    });
    expect(res.status).toBe(403);
    expect(res.status).not.toBe(401);
    await res.body?.cancel();
    await heartbeat(keeper, bystander, 'no hijack got through');
    expect(bystander.tokensSince(0).map((t) => t.data)).not.toContain('hijack');
  });

  it('refuses an invalid bearer at initialize with 403, never 401', async () => {
    const res = await SELF.fetch(conv.magic_link, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ams_sk_${owner.namespace}.${'A'.repeat(43)}` },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } }),
    });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: string }).error).toBe('invalid_credential');
  });

  it('keeps an observer-link MCP session read-only', async () => {
    const obs = await openSession(conv.observer_link);
    const joined = await obs.ok('ams_join');
    expect(joined).toMatchObject({ scope: 'read', stream_id: null });
    expect((await obs.call('ams_send', { data: 'x' })).value.error).toBe('read_only');
    expect((await obs.call('ams_set_metadata', { metadata: {} })).value.error).toBe('read_only');
  });
});
