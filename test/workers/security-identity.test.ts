/**
 * Identity cannot be borrowed: a connection speaks only as its own account,
 * on its own stream; an observer cannot speak at all; the admission the
 * Worker hands the conversation cannot be forged from outside; and guessed
 * credentials get nowhere. Each attempt fails closed with its documented error.
 */
import { SELF } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { toBase64Url } from '../../src/control/encoding';
import {
  Bystander, ORIGIN, Peer, connect, createAccount, expectDocumentedClose, expectDocumentedError, heartbeat, inspect, mint, routeOf, upgrade,
  type TestAccount, type TestConversation,
} from '../fuzz/workerd';

let A: TestAccount;
let B: TestAccount;
let conv: TestConversation;
let bystander: Bystander;
let owner: Peer;

beforeAll(async () => {
  A = await createAccount('sec-a');
  B = await createAccount('sec-b');
  conv = await mint(A, { stream_name: 'a-main', stream_metadata: { role: 'owner' } });
  bystander = await Bystander.open(conv.observer_link);
  owner = await connect(conv.magic_link, { credential: A.credential, headers: { 'x-ams-receipts': '1' } });
  await owner.joined();
  await heartbeat(owner, bystander, 'ready');
});

describe('a connection speaks only as itself', () => {
  it("stamps every token with the sender's own stream and account, whatever fields the frame claims", async () => {
    const b = await connect(conv.magic_link, { credential: B.credential, headers: { 'x-ams-receipts': '1', 'x-ams-stream-name': 'b-main' } });
    const joined = await b.joined();
    const from = bystander.count;
    b.send({ type: 'token', data: 'spoof', stream_id: conv.stream_id, stream_name: 'a-main', owner_account_id: A.account_id, seq: 1, ts: '2000-01-01T00:00:00.000Z' });
    await b.until(() => b.frames.some((f) => f.type === 'x_receipt'), 'receipt');
    const receipt = b.frames.find((f) => f.type === 'x_receipt') as { seq: number };
    await bystander.reach(receipt.seq);
    const heard = bystander.tokensSince(from);
    expect(heard).toHaveLength(1);
    expect(heard[0]).toMatchObject({ data: 'spoof', stream_id: joined.stream_id, stream_name: 'b-main', owner_account_id: B.account_id, seq: receipt.seq });
    expect((heard[0] as unknown as { ts: string }).ts).not.toBe('2000-01-01T00:00:00.000Z');
    // The owner of the claimed stream heard it, as any other subscriber would: it is B's token, not its own.
    await owner.until(() => owner.frames.some((f) => f.type === 'token' && (f as { data: string }).data === 'spoof'), 'owner hears B');
    await b.close();
  });

  it("changes only the sender's own stream metadata, whatever stream the frame names", async () => {
    const b = await connect(conv.magic_link, { credential: B.credential, headers: { 'x-ams-stream-name': 'b-meta' } });
    const joined = await b.joined();
    b.send({ type: 'set_metadata', metadata: { role: 'hijacked' }, stream_id: conv.stream_id, stream_name: 'a-main' });
    await bystander.peer.until(() => bystander.peer.logged().some((f) => f.type === 'stream_metadata' && (f as { stream_id: string }).stream_id === joined.stream_id), 'stream_metadata');
    const streams = (await inspect(A, conv.alias)).streams as Array<{ stream_name: string; metadata: unknown; owner_account_id: string }>;
    expect(streams.find((s) => s.stream_name === 'a-main')).toMatchObject({ metadata: { role: 'owner' }, owner_account_id: A.account_id });
    expect(streams.find((s) => s.stream_name === 'b-meta')).toMatchObject({ metadata: { role: 'hijacked' }, owner_account_id: B.account_id });
    await b.close();
  });

  it("refuses another account's stream by name on connect (4004) and on POST /tokens (409), and that stream hears nothing", async () => {
    // A heartbeat first: the observer is on an audience shard, one hop behind, and may still be hearing the previous test's frames.
    const before = await heartbeat(owner, bystander, 'before the claims');
    const attempt = await connect(conv.magic_link, { credential: B.credential, headers: { 'x-ams-stream-name': 'a-main' } });
    expect(expectDocumentedClose(await attempt.closed)).toBe('stream_name_conflict');
    const viaQuery = await connect(conv.magic_link, { credential: B.credential, query: { stream_name: 'a-main' } });
    expect(expectDocumentedClose(await viaQuery.closed)).toBe('stream_name_conflict');
    const post = await SELF.fetch(routeOf(conv.magic_link, '/tokens', { stream_name: 'a-main' }), {
      method: 'POST', headers: { authorization: `Bearer ${B.credential}`, 'content-type': 'text/plain' }, body: 'not yours',
    });
    expect(await expectDocumentedError(post)).toBe('stream_name_conflict');
    await heartbeat(owner, bystander, 'after the claims');
    expect(bystander.peer.logged().filter((f) => f.seq > before).map((f) => (f as { data?: string }).data)).toEqual(['after the claims']);
    expect(owner.isClosed).toBe(false);
  });

  it('keeps an observer read-only even when it presents a valid credential', async () => {
    const obs = await connect(conv.observer_link, { credential: A.credential, headers: { 'x-ams-stream-name': 'a-main' } });
    const joined = await obs.joined();
    expect(joined).toMatchObject({ scope: 'read', stream_id: null });
    obs.send({ type: 'token', data: 'as the owner?' });
    expect(expectDocumentedClose(await obs.closed)).toBe('read_only');
    const obs2 = await connect(conv.observer_link);
    await obs2.joined();
    obs2.send({ type: 'set_metadata', metadata: { role: 'x' } });
    expect(expectDocumentedClose(await obs2.closed)).toBe('read_only');
    const post = await SELF.fetch(routeOf(conv.observer_link, '/tokens'), {
      method: 'POST', headers: { authorization: `Bearer ${A.credential}`, 'content-type': 'text/plain' }, body: 'sneaky',
    });
    expect(await expectDocumentedError(post)).toBe('read_only');
    expect(owner.isClosed).toBe(false);
  });

  it('ignores an admission header sent from outside: the Worker builds its own', async () => {
    const forged = JSON.stringify({
      claims: { conversation_id: conv.conversation_id, scope: 'write', generation: 1 },
      account: { status: 'ok', account_id: A.account_id }, self_subscribe: false, receipts: false, integrity: false, subprotocol: false, stream_name: 'a-main',
    });
    // With the observer link and no credential, the forged header claims write scope as A.
    const res = await upgrade(routeOf(conv.observer_link, '/connect'), { headers: { 'x-ams-admission': forged } });
    const peer = new Peer(res.webSocket!, null);
    const joined = await peer.joined();
    expect(joined).toMatchObject({ scope: 'read', stream_id: null });
    await peer.close();
    // With no token at all, it still fails at step 1.
    const none = await upgrade(`${ORIGIN}/${A.namespace}/conversations/${conv.alias}/connect`, { headers: { 'x-ams-admission': forged } });
    expect(expectDocumentedClose(await new Peer(none.webSocket!, null).closed)).toBe('invalid_magic_link');
    const post = await SELF.fetch(routeOf(conv.observer_link, '/tokens'), { method: 'POST', headers: { 'x-ams-admission': forged, 'content-type': 'text/plain' }, body: 'forged' });
    expect(await expectDocumentedError(post)).toBe('read_only');
  });
});

describe('guessing credentials', () => {
  const guesses = (ns: string, n: number) => Array.from({ length: n }, () => `ams_sk_${ns}.${toBase64Url(crypto.getRandomValues(new Uint8Array(32)))}`);

  it('gets 401 invalid_credential for every well-formed guess at minting, and mints nothing', async () => {
    for (const guess of guesses(A.namespace, 60)) {
      const res = await SELF.fetch(`${ORIGIN}/v1/${A.namespace}/conversations`, { method: 'POST', headers: { authorization: `Bearer ${guess}` } });
      expect(await expectDocumentedError(res)).toBe('invalid_credential');
    }
  });

  it('gets 4002 invalid_credential for every guess on a write link, header or subprotocol, and no stream appears', async () => {
    const before = (await inspect(A, conv.alias)).streams as unknown[];
    const all = guesses(A.namespace, 30);
    for (const [i, guess] of all.entries()) {
      const peer = i % 2 === 0 ? await connect(conv.magic_link, { credential: guess }) : await connect(conv.magic_link, { protocols: ['ams.v1', `ams.bearer.${guess}`] });
      expect(expectDocumentedClose(await peer.closed)).toBe('invalid_credential');
    }
    expect((await inspect(A, conv.alias)).streams).toHaveLength(before.length);
  });

  it('gets the same answer for a guess in a namespace that exists and one that does not', async () => {
    const [real] = guesses(A.namespace, 1);
    const [ghost] = guesses('no-such-namespace-here', 1);
    const a = await SELF.fetch(`${ORIGIN}/v1/${A.namespace}/conversations/${conv.alias}`, { headers: { authorization: `Bearer ${real}` } });
    const b = await SELF.fetch(`${ORIGIN}/v1/${A.namespace}/conversations/${conv.alias}`, { headers: { authorization: `Bearer ${ghost}` } });
    expect([a.status, await a.json()]).toEqual([b.status, await b.json()]);
  });
});
