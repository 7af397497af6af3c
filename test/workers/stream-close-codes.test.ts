import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { account, connect, isType, mint, route, settle } from './support';

const closedWith = async (s: Awaited<ReturnType<typeof connect>>) => s.closed;

describe('connect: every rejection closes with its code and exact reason', () => {
  it('answers a plain GET on /connect with 426 upgrade_required', async () => {
    const a = await account();
    const conv = await mint(a);
    const res = await SELF.fetch(route(conv.magic_link, 'connect'));
    expect(res.status).toBe(426);
    expect(await res.json()).toMatchObject({ error: 'upgrade_required' });
  });

  it('accepts the Upgrade header in any case', async () => {
    const a = await account();
    const conv = await mint(a);
    const s = await connect(conv.magic_link, { credential: a.credential, headers: { Upgrade: 'WebSocket' } });
    await s.next(isType('joined'));
  });

  it('4001 without t, 4005 for an unknown alias even with a bad token, 4001 for a bad token', async () => {
    const a = await account();
    const conv = await mint(a);
    const noT = new URL(conv.magic_link);
    noT.search = '';
    expect(await closedWith(await connect(noT.toString(), { credential: a.credential }))).toEqual({ code: 4001, reason: 'invalid_magic_link' });
    const unknown = conv.magic_link.replace(conv.alias, 'no-such-alias');
    expect(await closedWith(await connect(unknown, { credential: a.credential }))).toEqual({ code: 4005, reason: 'conversation_not_found' });
    const tampered = conv.magic_link.slice(0, -1) + (conv.magic_link.endsWith('A') ? 'B' : 'A');
    expect(await closedWith(await connect(tampered, { credential: a.credential }))).toEqual({ code: 4001, reason: 'invalid_magic_link' });
  });

  it('4001 for a token of another conversation', async () => {
    const a = await account();
    const one = await mint(a);
    const two = await mint(a);
    const crossed = one.magic_link.replace(/\?t=.*/, '?' + new URL(two.magic_link).searchParams.toString());
    expect(await closedWith(await connect(crossed, { credential: a.credential }))).toEqual({ code: 4001, reason: 'invalid_magic_link' });
  });

  it('4002 for a write link with a missing or invalid credential', async () => {
    const a = await account();
    const conv = await mint(a);
    expect(await closedWith(await connect(conv.magic_link))).toEqual({ code: 4002, reason: 'invalid_credential' });
    const wrong = a.credential.slice(0, -1) + (a.credential.endsWith('A') ? 'B' : 'A');
    expect(await closedWith(await connect(conv.magic_link, { credential: wrong }))).toEqual({ code: 4002, reason: 'invalid_credential' });
  });

  it('4400 for a bad stream name header and a bad metadata header', async () => {
    const a = await account();
    const conv = await mint(a);
    expect(await closedWith(await connect(conv.magic_link, { credential: a.credential, headers: { 'X-AMS-Stream-Name': '-bad name' } })))
      .toEqual({ code: 4400, reason: 'invalid_stream_name_header' });
    for (const bad of ['not base64 !!', btoa('[1,2]'), btoa('{"a":'), btoa(JSON.stringify({ big: 'x'.repeat(17_000) }))]) {
      expect(await closedWith(await connect(conv.magic_link, { credential: a.credential, headers: { 'X-AMS-Stream-Metadata': bad } })))
        .toEqual({ code: 4400, reason: 'invalid_stream_metadata_header' });
    }
  });

  it('4004 when the stream name belongs to another account', async () => {
    const a = await account();
    const b = await account();
    const conv = await mint(a, { stream_name: 'planner' });
    expect(await closedWith(await connect(conv.magic_link, { credential: b.credential, headers: { 'X-AMS-Stream-Name': 'planner' } })))
      .toEqual({ code: 4004, reason: 'stream_name_conflict' });
  });

  it('4003 when an account holds more than 10 live streams', async () => {
    const a = await account();
    const conv = await mint(a);
    const held = [];
    // The minted stream is one of the account's ten (registered streams count too, decision 0106): the first socket takes it.
    for (let i = 0; i < 10; i++) {
      const s = await connect(conv.magic_link, { credential: a.credential, headers: i === 0 ? {} : { 'X-AMS-Stream-Name': `s${i}` } });
      await s.next(isType('joined'));
      held.push(s);
    }
    expect(await closedWith(await connect(conv.magic_link, { credential: a.credential, headers: { 'X-AMS-Stream-Name': 's10' } })))
      .toEqual({ code: 4003, reason: 'concurrency_limit' });
    // Taking over one of the ten does not count as an eleventh.
    const again = await connect(conv.magic_link, { credential: a.credential, headers: { 'X-AMS-Stream-Name': 's3' } });
    expect(await again.next(isType('joined'))).toMatchObject({ resumed: true });
  });

  it('4920 for a malformed or impossible cursor', async () => {
    const a = await account();
    const conv = await mint(a);
    for (const since of ['abc', '-1', '1.5', '99']) {
      expect(await closedWith(await connect(conv.magic_link, { credential: a.credential, params: { since } })), since)
        .toEqual({ code: 4920, reason: 'invalid_cursor' });
    }
  });

  it('negotiates the ams.v1 subprotocol and reads the credential from it', async () => {
    const a = await account();
    const conv = await mint(a);
    const s = await connect(conv.magic_link, { protocols: `ams.v1, ams.bearer.${a.credential}`, params: { stream_name: 'browser' } });
    expect(await s.next(isType('joined'))).toMatchObject({ stream_name: 'browser', scope: 'write' });
    expect(s.protocol).toBe('ams.v1');
  });

  it('never reads a credential from the query string', async () => {
    const a = await account();
    const conv = await mint(a);
    const s = await connect(conv.magic_link, { params: { credential: a.credential, bearer: a.credential, authorization: `Bearer ${a.credential}` } });
    expect(await s.closed).toEqual({ code: 4002, reason: 'invalid_credential' });
  });
});

describe('bad frames close only the sender', () => {
  const cases: Array<[string, string | ArrayBuffer, number, string]> = [
    ['unparseable JSON', '{nope', 4400, 'malformed_frame'],
    ['a JSON array', '[1]', 4400, 'malformed_frame'],
    ['a missing type', '{"data":"x"}', 4400, 'malformed_frame'],
    ['data of the wrong type', '{"type":"token","data":5}', 4400, 'malformed_frame'],
    ['metadata that is not an object', '{"type":"set_metadata","metadata":[1]}', 4400, 'malformed_frame'],
    ['an id that is too long', JSON.stringify({ type: 'token', data: 'x', id: 'i'.repeat(65) }), 4400, 'malformed_frame'],
    ['a ref beyond the head', '{"type":"token","data":"x","ref":999}', 4400, 'malformed_frame'],
    ['a lone surrogate', '{"type":"token","data":"\\ud800"}', 4400, 'malformed_frame'],
    ['an unknown type', '{"type":"shout","data":"x"}', 4400, 'unknown_frame_type'],
    ['a token over 64 KiB', JSON.stringify({ type: 'token', data: 'é'.repeat(32_769) }), 4400, 'token_too_large'],
    ['a binary message', new Uint8Array([123, 125]).buffer, 4400, 'malformed_frame'],
  ];
  for (const [what, payload, code, reason] of cases) {
    it(`${what} → ${code} ${reason}, and a bystander keeps receiving`, async () => {
      const a = await account();
      const b = await account();
      const c = await account();
      const conv = await mint(a);
      const bad = await connect(conv.magic_link, { credential: b.credential, headers: { 'X-AMS-Stream-Name': 'bad' } });
      const good = await connect(conv.magic_link, { credential: a.credential });
      const listener = await connect(conv.magic_link, { credential: c.credential });
      await Promise.all([bad, good, listener].map((s) => s.next(isType('joined'))));
      good.send({ type: 'token', data: 'before' });
      await listener.next((f) => f.type === 'token');
      bad.ws.send(payload);
      expect(await bad.closed).toEqual({ code, reason });
      good.send({ type: 'token', data: 'after' });
      await listener.next((f) => f.type === 'token' && f.data === 'after');
      expect(listener.frames.filter(isType('token')).map((f) => (f as { data: string }).data)).toEqual(['before', 'after']);
    });
  }

  it('a token of exactly 65,536 UTF-8 bytes is accepted', async () => {
    const a = await account();
    const b = await account();
    const conv = await mint(a);
    const sa = await connect(conv.magic_link, { credential: a.credential });
    const sb = await connect(conv.magic_link, { credential: b.credential });
    await Promise.all([sa.next(isType('joined')), sb.next(isType('joined'))]);
    const data = 'é'.repeat(32_768);
    sa.send({ type: 'token', data });
    expect(await sb.next(isType('token'))).toMatchObject({ data });
  });
});

describe('observers, takeover and rate limits', () => {
  it('an observer link admits without a credential, hears everything, and cannot emit (4903)', async () => {
    const a = await account();
    const conv = await mint(a);
    const obs = await connect(conv.observer_link);
    expect(await obs.next(isType('joined'))).toMatchObject({ stream_id: null, stream_name: null, metadata: null, scope: 'read' });
    const sa = await connect(conv.magic_link, { credential: a.credential });
    await sa.next(isType('joined'));
    sa.send({ type: 'token', data: 'watched' });
    expect(await obs.next(isType('token'))).toMatchObject({ data: 'watched' });
    obs.send({ type: 'token', data: 'sneaky' });
    expect(await obs.closed).toEqual({ code: 4903, reason: 'read_only' });
    const obs2 = await connect(conv.observer_link, { credential: a.credential });
    await obs2.next(isType('joined'));
    obs2.send({ type: 'set_metadata', metadata: { x: 1 } });
    expect(await obs2.closed).toEqual({ code: 4903, reason: 'read_only' });
  });

  it('the same account and stream name takes the stream over; the old socket gets 4901', async () => {
    const a = await account();
    const b = await account();
    const conv = await mint(a, { stream_name: 'agent' });
    const first = await connect(conv.magic_link, { credential: a.credential, headers: { 'X-AMS-Stream-Name': 'agent' } });
    const peer = await connect(conv.magic_link, { credential: b.credential });
    await Promise.all([first.next(isType('joined')), peer.next(isType('joined'))]);
    const second = await connect(conv.magic_link, { credential: a.credential, headers: { 'X-AMS-Stream-Name': 'agent' } });
    expect(await second.next(isType('joined'))).toMatchObject({ stream_id: conv.stream_id, resumed: true });
    expect(await first.closed).toEqual({ code: 4901, reason: 'stream_displaced' });
    second.send({ type: 'token', data: 'still me' });
    await peer.next(isType('token'));
    await settle(50);
    expect(peer.frames.filter((f) => f.type === 'stream_joined' || f.type === 'stream_left')).toEqual([]);
    expect(await peer.next(isType('token'))).toMatchObject({ stream_id: conv.stream_id, data: 'still me' });
  });
});
