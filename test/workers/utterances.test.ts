/**
 * Utterances in real workerd: `end` on the wire (WebSocket, POST …/tokens,
 * ams_send), the quiet gap at mint and inspect, and ams_recv returning whole
 * messages — one per utterance, in seq order, never repeated — with the raw
 * frames still there for programs. Bad input is refused with its documented
 * error and leaves nothing in the log.
 */
import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { ORIGIN, type TestAccount, type TestConversation } from '../fuzz/workerd';
import { account, barrier, connect, inspect, isType, mint, route, settle, type TestSocket } from './support';
import { openSession, type RawSession } from './mcp-support';

type Frame = { type: string; seq: number; data?: string; end?: boolean; stream_id?: string };

async function logOf(conv: TestConversation): Promise<Frame[]> {
  const page = await (await SELF.fetch(route(conv.observer_link, 'history', { since: '0', limit: '1000' }))).json<{ frames: Frame[] }>();
  return page.frames;
}

const tokensOf = (frames: Frame[]) => frames.filter((f) => f.type === 'token');

async function speaker(owner: TestAccount, conv: TestConversation, name?: string): Promise<TestSocket> {
  const ws = await connect(conv.magic_link, { credential: owner.credential, ...(name ? { headers: { 'x-ams-stream-name': name } } : {}) });
  await ws.next(isType('joined'));
  return ws;
}

async function listener(conv: TestConversation): Promise<RawSession> {
  const m = await openSession(conv.observer_link);
  await m.ok('ams_join');
  return m;
}

/** The conversation's head, read through inspect. */
const headOf = async (owner: TestAccount, conv: TestConversation) => (await inspect(owner, conv.alias)).head_seq as number;

function post(url: string, body: string, type: string, credential: string): Promise<Response> {
  return SELF.fetch(url, { method: 'POST', headers: { 'content-type': type, authorization: `Bearer ${credential}` }, body });
}

describe('ams_recv hears utterances', () => {
  it('a waiting ams_recv returns the 200 streamed tokens as exactly one message, and format "frames" the 200 frames', async () => {
    const owner = await account('utt');
    const conv = await mint(owner);
    const m = await listener(conv);
    const peer = await speaker(owner, conv, 'alice');
    const start = (await m.ok('ams_recv', { wait_ms: 0, format: 'entries' })).next_since as number;
    const words = Array.from({ length: 200 }, (_, i) => (i === 0 ? 'The' : ` w${i}`));
    const waiting = m.call('ams_recv', { wait_ms: 20_000, format: 'entries' });
    await settle(100);
    words.forEach((data, i) => peer.send({ type: 'token', data, ...(i === 199 ? { end: true } : {}) }));
    const got = await waiting;
    expect(got.isError).toBe(false);
    const entries = got.value.entries as Record<string, unknown>[];
    expect(entries).toHaveLength(1);
    const msg = entries[0] as { text: string; first_seq: number; last_seq: number; complete: boolean; continues?: boolean };
    expect(msg).toMatchObject({ kind: 'message', text: words.join(''), complete: true, stream_name: 'alice', owner_account_id: owner.account_id });
    expect(msg.last_seq - msg.first_seq).toBe(199);
    expect(msg.continues).toBeUndefined();
    expect(got.value.next_since).toBe(msg.last_seq);
    expect(JSON.parse(got.text)).toEqual(got.value);

    const frames = await m.ok('ams_recv', { since: start, format: 'frames', max: 1000 });
    const tokens = tokensOf(frames.frames as Frame[]);
    expect(tokens).toHaveLength(200);
    expect(tokens.map((f) => f.data)).toEqual(words);
    expect(tokens.filter((f) => f.end === true).map((f) => f.seq)).toEqual([msg.last_seq]);
    // Nothing more: the membership's cursor moved past the message.
    expect((await m.ok('ams_recv', { since: msg.last_seq, format: 'entries' })).entries).toEqual([]);

    // What a model reads by default: one transcript line — the seq range once, the name, the text — and no JSON beside it.
    const again = m.call('ams_recv', { wait_ms: 20_000 });
    await settle(100);
    words.forEach((data, i) => peer.send({ type: 'token', data, ...(i === 199 ? { end: true } : {}) }));
    const read = await again;
    expect(read.isError).toBe(false);
    expect(read.value).toBeUndefined();
    const first = msg.last_seq + 1;
    expect(read.text).toBe(`[${first}-${first + 199}] alice: ${words.join('')}`);
    peer.close();
  });

  it('a 100-token utterance costs the model at most 1.25× its text plus 150 bytes', async () => {
    const owner = await account('utt');
    const conv = await mint(owner);
    const m = await listener(conv);
    const peer = await speaker(owner, conv, 'a-speaker-with-a-long-name');
    await m.ok('ams_recv', { wait_ms: 0 });
    const words = Array.from({ length: 100 }, (_, i) => ` tok${i}`);
    const waiting = m.call('ams_recv', { wait_ms: 20_000 });
    await settle(100);
    words.forEach((data, i) => peer.send({ type: 'token', data, ...(i === 99 ? { end: true } : {}) }));
    const got = await waiting;
    const text = words.join('');
    const bytes = new TextEncoder().encode(got.text).length;
    expect(bytes).toBeLessThanOrEqual(1.25 * new TextEncoder().encode(text).length + 150);
    expect(got.text).toContain(text);
    peer.close();
  });

  it('a stream without end markers is delivered as messages closed by the quiet gap', async () => {
    const owner = await account('utt');
    const conv = await mint(owner, { utterance_gap_ms: 300 });
    const m = await listener(conv);
    const peer = await speaker(owner, conv, 'bob');
    await m.ok('ams_recv', { wait_ms: 0 });
    const waiting = m.call('ams_recv', { wait_ms: 10_000, format: 'entries' });
    await settle(50);
    for (const data of ['first', ' part', ' here']) peer.send({ type: 'token', data });
    await barrier(peer);
    const t0 = Date.now();
    const first = await waiting;
    // Returned by the gap (not at the first token, not at the end of wait_ms).
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(first.value.entries).toMatchObject([{ kind: 'message', text: 'first part here', complete: true }]);
    await settle(400);
    for (const data of ['second', ' one']) peer.send({ type: 'token', data });
    await barrier(peer);
    const second = await m.ok('ams_recv', { wait_ms: 10_000, format: 'entries' });
    expect(second.entries).toMatchObject([{ kind: 'message', text: 'second one', complete: true }]);
    expect(second.entries[0].first_seq).toBe(first.value.entries[0].last_seq + 1);
    peer.close();
  });

  it('two streams speaking at once come out as two messages, in seq order of their first tokens', async () => {
    const owner = await account('utt');
    const other = await account('utt');
    const conv = await mint(owner);
    const m = await listener(conv);
    const alice = await speaker(owner, conv, 'alice');
    const bob = await speaker(other, conv, 'bob');
    await m.ok('ams_recv', { wait_ms: 0 });
    for (let i = 0; i < 10; i++) {
      alice.send({ type: 'token', data: `a${i} `, ...(i === 9 ? { end: true } : {}) });
      await barrier(alice);
      bob.send({ type: 'token', data: `b${i} `, ...(i === 9 ? { end: true } : {}) });
      await barrier(bob);
    }
    const entries: Record<string, any>[] = [];
    for (let calls = 0; entries.filter((e) => e.kind === 'message').length < 2 && calls < 5; calls++) {
      entries.push(...(await m.ok('ams_recv', { wait_ms: 5_000, format: 'entries' })).entries);
    }
    const messages = entries.filter((e) => e.kind === 'message');
    expect(messages.map((e) => [e.stream_name, e.text, e.complete])).toEqual([
      ['alice', Array.from({ length: 10 }, (_, i) => `a${i} `).join(''), true],
      ['bob', Array.from({ length: 10 }, (_, i) => `b${i} `).join(''), true],
    ]);
    expect(messages[0].first_seq).toBeLessThan(messages[1].first_seq);
    expect(messages[1].first_seq).toBeLessThan(messages[0].last_seq);
    alice.close();
    bob.close();
  });

  it('when wait_ms runs out mid-utterance it returns what arrived (complete: false); the next call continues without repeating', async () => {
    const owner = await account('utt');
    const conv = await mint(owner, { utterance_gap_ms: 10_000 });
    const m = await listener(conv);
    const peer = await speaker(owner, conv, 'carol');
    await m.ok('ams_recv', { wait_ms: 0 });
    peer.send({ type: 'token', data: 'Hello' });
    peer.send({ type: 'token', data: ' there' });
    await barrier(peer);
    const part = await m.call('ams_recv', { wait_ms: 300, format: 'entries' });
    expect(part.value.entries).toMatchObject([{ text: 'Hello there', complete: false }]);
    peer.send({ type: 'token', data: ', friend.', end: true });
    const rest = await m.call('ams_recv', { wait_ms: 5_000, format: 'entries' });
    expect(rest.value.entries).toMatchObject([{ text: ', friend.', complete: true, continues: true }]);
    expect(rest.value.entries[0].first_seq).toBe(part.value.entries[0].last_seq + 1);
    // The same as a model reads it: "…" marks the part, "+" the continuation.
    peer.send({ type: 'token', data: 'More' });
    await barrier(peer);
    const modelPart = await m.call('ams_recv', { wait_ms: 300 });
    expect(modelPart.text).toMatch(/^\[\d+…\] carol: More$/);
    peer.send({ type: 'token', data: ' to come.', end: true });
    const modelRest = await m.call('ams_recv', { wait_ms: 5_000 });
    expect(modelRest.text).toMatch(/^\[\d+\+\] carol:  to come\.$/);
    expect((await m.call('ams_recv', { wait_ms: 0 })).text).toBe('(nothing new)');
    peer.close();
  });

  it('joins and leaves are short entries among the messages', async () => {
    const owner = await account('utt');
    const conv = await mint(owner);
    const m = await listener(conv);
    await m.ok('ams_recv', { wait_ms: 0 });
    const peer = await speaker(owner, conv, 'dave');
    peer.send({ type: 'token', data: 'hi all', end: true });
    await barrier(peer);
    peer.close();
    await peer.closed;
    let text = '';
    for (let calls = 0; !text.includes('left') && calls < 5; calls++) text += `${(await m.call('ams_recv', { wait_ms: 5_000 })).text}\n`;
    expect(text).toMatch(/^\[(\d+)\] dave joined \(agent\)\n\[\d+\] dave: hi all\n\[\d+\] dave left\n$/);
    const seq = Number(/^\[(\d+)\]/.exec(text)![1]);
    const json = await m.ok('ams_recv', { since: seq - 1, format: 'entries' });
    expect(json.entries.map((e: { kind: string }) => e.kind)).toEqual(['joined', 'message', 'left']);
  });
});

describe('end on the wire', () => {
  it('a WebSocket token keeps end: true in the log and the broadcast; end: false is not stored', async () => {
    const owner = await account('utt');
    const conv = await mint(owner);
    const peer = await speaker(owner, conv);
    const watcher = await connect(conv.observer_link);
    await watcher.next(isType('joined'));
    peer.send({ type: 'token', data: 'a', end: false });
    peer.send({ type: 'token', data: 'b', end: true });
    const heard = await watcher.count(isType('token'), 2);
    expect(heard.map((f) => (f as Frame).end)).toEqual([undefined, true]);
    expect(tokensOf(await logOf(conv)).map((f) => [f.data, f.end])).toEqual([['a', undefined], ['b', true]]);
    peer.close();
    watcher.close();
  });

  it('POST …/tokens: the last token of a request ends the utterance unless ?end=false; a JSON token keeps its own end', async () => {
    const owner = await account('utt');
    const conv = await mint(owner);
    const url = (params: Record<string, string> = {}) => route(conv.magic_link, 'tokens', params);
    expect((await post(url(), 'plain', 'text/plain', owner.credential)).status).toBe(200);
    expect((await post(url({ end: 'false' }), 'open', 'text/plain', owner.credential)).status).toBe(200);
    expect((await post(url(), JSON.stringify(['x', 'y']), 'application/json', owner.credential)).status).toBe(200);
    expect((await post(url(), JSON.stringify([{ data: 'p', end: true }, { data: 'q', end: false }]), 'application/json', owner.credential)).status).toBe(200);
    expect((await post(url({ end: 'false' }), 'n1\nn2\n', 'application/x-ndjson', owner.credential)).status).toBe(200);
    expect((await post(url({ end: 'true' }), 'n3\n{"data":"n4"}\n', 'application/x-ndjson', owner.credential)).status).toBe(200);
    expect(tokensOf(await logOf(conv)).map((f) => [f.data, f.end ?? null])).toEqual([
      ['plain', true], ['open', null], ['x', null], ['y', true], ['p', true], ['q', null], ['n1', null], ['n2', null], ['n3', null], ['n4', true],
    ]);
  });

  it('ams_send sends a whole utterance; end: false sends pieces the next send continues', async () => {
    const owner = await account('utt');
    const conv = await mint(owner);
    const speakerSession = await openSession(conv.magic_link);
    await speakerSession.ok('ams_join', { stream_name: 'eve' });
    const m = await listener(conv);
    await m.ok('ams_recv', { wait_ms: 0 });
    await speakerSession.ok('ams_send', { data: 'whole' });
    await speakerSession.ok('ams_send', { data: 'piece one,', end: false });
    await speakerSession.ok('ams_send', { data: ' piece two,', end: false });
    await speakerSession.ok('ams_send', { data: ' done.' });
    const entries: Record<string, any>[] = [];
    for (let calls = 0; entries.length < 2 && calls < 5; calls++) entries.push(...(await m.ok('ams_recv', { wait_ms: 5_000, format: 'entries' })).entries);
    expect(entries.map((e) => [e.text, e.complete])).toEqual([['whole', true], ['piece one, piece two, done.', true]]);
    expect(tokensOf(await logOf(conv)).map((f) => f.end ?? null)).toEqual([true, null, null, true]);
  });

  it('ams_send ends an utterance its stream left open with an empty end token first — all or nothing, and not for a resent id', async () => {
    const owner = await account('utt');
    const conv = await mint(owner);
    const s = await openSession(conv.magic_link, owner.credential);
    await s.ok('ams_join', { stream_name: 'frank' });
    const open = await post(route(conv.magic_link, 'tokens', { stream_name: 'frank', end: 'false' }), 'streamed without an end', 'text/plain', owner.credential);
    expect(open.status).toBe(200);
    const head = await headOf(owner, conv);
    // A bad ref is refused before anything is logged: not even the empty end token.
    expect((await s.call('ams_send', { data: 'x', ref: head + 100 })).value.error).toBe('invalid_ref');
    expect(await headOf(owner, conv)).toBe(head);
    const sent = await s.ok('ams_send', { data: 'a new message', id: 'k1' });
    const again = await s.ok('ams_send', { data: 'a new message', id: 'k1' });
    expect(again).toMatchObject({ seq: sent.seq, duplicate: true });
    const log = tokensOf(await logOf(conv));
    expect(log.map((f) => [f.data, f.end ?? null, f.seq])).toEqual([
      ['streamed without an end', null, head], ['', true, head + 1], ['a new message', true, head + 2],
    ]);
    expect(sent.seq).toBe(head + 2);
    const m = await listener(conv);
    const got = await m.ok('ams_recv', { since: 0, format: 'entries' });
    expect(got.entries.filter((e: { kind: string }) => e.kind === 'message').map((e: { text: string }) => e.text)).toEqual(['streamed without an end', 'a new message']);
  });
});

describe('the quiet gap', () => {
  it('is set at mint, reported by mint and inspect, and defaults to 2000 ms', async () => {
    const owner = await account('utt');
    const plain = await mint(owner);
    expect((await inspect(owner, plain.alias)).utterance_gap_ms).toBe(2_000);
    const res = await SELF.fetch(`${ORIGIN}/v1/${owner.namespace}/conversations`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${owner.credential}` }, body: JSON.stringify({ utterance_gap_ms: 750 }),
    });
    expect(res.status).toBe(201);
    const set = await res.json<{ alias: string; utterance_gap_ms: number }>();
    expect(set.utterance_gap_ms).toBe(750);
    expect((await inspect(owner, set.alias)).utterance_gap_ms).toBe(750);
  });
});

describe('bad input: a documented error, nothing logged', () => {
  it('a gap out of range at mint is 400 invalid_utterance_gap and creates nothing', async () => {
    const owner = await account('utt');
    for (const [i, gap] of [99, 60_001, 1.5, '2000', null, -1].entries()) {
      const alias = `gap-${i}`;
      const res = await SELF.fetch(`${ORIGIN}/v1/${owner.namespace}/conversations`, {
        method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${owner.credential}` }, body: JSON.stringify({ alias, utterance_gap_ms: gap }),
      });
      expect(res.status, String(gap)).toBe(400);
      expect((await res.json<{ error: string }>()).error).toBe('invalid_utterance_gap');
      const look = await SELF.fetch(`${ORIGIN}/v1/${owner.namespace}/conversations/${alias}`, { headers: { authorization: `Bearer ${owner.credential}` } });
      expect(look.status).toBe(404);
    }
  });

  it('a non-boolean end closes the socket 4400 malformed_frame; the token is not logged', async () => {
    const owner = await account('utt');
    const conv = await mint(owner);
    for (const end of ['yes', 1, null, {}]) {
      const peer = await speaker(owner, conv);
      peer.send({ type: 'token', data: `bad end ${JSON.stringify(end)}`, end });
      expect(await peer.closed).toMatchObject({ code: 4400, reason: 'malformed_frame' });
    }
    await settle(50);
    expect(tokensOf(await logOf(conv))).toEqual([]);
  });

  it('POST …/tokens with a non-boolean end or ?end= other than true/false is 400 invalid_token; nothing of the batch is logged', async () => {
    const owner = await account('utt');
    const conv = await mint(owner);
    const head = await headOf(owner, conv);
    const cases: [Record<string, string>, string, string][] = [
      [{}, JSON.stringify([{ data: 'ok' }, { data: 'bad', end: 'yes' }]), 'application/json'],
      [{}, '{"data":"ok"}\n{"data":"bad","end":1}\n', 'application/x-ndjson'],
      [{ end: 'maybe' }, 'text', 'text/plain'],
      [{ end: '' }, 'text', 'text/plain'],
    ];
    for (const [params, body, type] of cases) {
      const res = await post(route(conv.magic_link, 'tokens', params), body, type, owner.credential);
      expect(res.status, body).toBe(400);
      expect((await res.json<{ error: string }>()).error).toBe('invalid_token');
    }
    expect(await headOf(owner, conv)).toBe(head);
  });

  it('ams_recv with an unknown format and ams_send with a non-boolean end are invalid_arguments; nothing is logged or consumed', async () => {
    const owner = await account('utt');
    const conv = await mint(owner);
    const s = await openSession(conv.magic_link);
    await s.ok('ams_join');
    const m = await listener(conv);
    const before = (await m.ok('ams_recv', { wait_ms: 0, format: 'entries' })).next_since as number;
    const head = await headOf(owner, conv);
    const bad = await s.call('ams_send', { data: 'x', end: 'yes' });
    expect([bad.isError, bad.value.error]).toEqual([true, 'invalid_arguments']);
    expect(await headOf(owner, conv)).toBe(head);
    await s.ok('ams_send', { data: 'after' });
    for (const format of ['tokens', '', 'MESSAGES', 1]) {
      const r = await m.call('ams_recv', { format });
      expect([r.isError, r.value.error], String(format)).toEqual([true, 'invalid_arguments']);
    }
    const got = await m.ok('ams_recv', { wait_ms: 5_000, format: 'entries' });
    expect(got.entries).toMatchObject([{ text: 'after', complete: true }]);
    expect(got.next_since).toBeGreaterThan(before);
  });
});
