import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { account, barrier, connect, inspect, isType, mint, route } from './support';

/** Reads SSE events from a streaming response until `until` says stop. */
async function readEvents(res: Response, until: (events: Array<{ id?: string; event?: string; data?: string }>) => boolean) {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const events: Array<{ id?: string; event?: string; data?: string; comment?: string }> = [];
  while (!until(events)) {
    const { done, value } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const ev: Record<string, string> = {};
      for (const line of block.split('\n')) {
        const i = line.indexOf(':');
        if (i === 0) ev.comment = line.slice(1).trim();
        else if (i > 0) ev[line.slice(0, i)] = line.slice(i + 1).trimStart();
      }
      events.push(ev);
    }
  }
  await reader.cancel();
  return events;
}

const post = (url: string, body: string, type: string, credential?: string) =>
  SELF.fetch(url, { method: 'POST', body, headers: { 'content-type': type, ...(credential ? { authorization: `Bearer ${credential}` } : {}) } });

describe('POST …/tokens', () => {
  it('emits text, JSON, JSON arrays and NDJSON, and peers receive them in order', async () => {
    const a = await account();
    const b = await account();
    const conv = await mint(a);
    const sub = await connect(conv.magic_link, { credential: b.credential });
    await sub.next(isType('joined'));
    const url = route(conv.magic_link, 'tokens');
    const r1 = await post(url, 'plain text', 'text/plain', a.credential);
    expect(r1.status).toBe(200);
    expect(await r1.json()).toMatchObject({ stream_id: conv.stream_id, stream_name: conv.stream_name, seqs: [2] });
    const r2 = await post(url, JSON.stringify({ data: 'json', id: 'j1' }), 'application/json', a.credential);
    expect(await r2.json()).toMatchObject({ seqs: [3] });
    const r3 = await post(url, JSON.stringify(['a', { data: 'b', ref: 2 }]), 'application/json; charset=utf-8', a.credential);
    expect(await r3.json()).toMatchObject({ seqs: [4, 5] });
    const r4 = await post(url, 'line one\n{"data":"line two"}\n\n"line three"\n', 'application/x-ndjson', a.credential);
    expect(await r4.json()).toMatchObject({ seqs: [6, 7, 8] });
    const r5 = await post(url, JSON.stringify({ data: 'json', id: 'j1' }), 'application/json', a.credential);
    expect(await r5.json()).toMatchObject({ seqs: [3], duplicates: 1 });
    const got = await sub.count(isType('token'), 7);
    expect(got.map((f) => (f as { data: string }).data)).toEqual(['plain text', 'json', 'a', 'b', 'line one', 'line two', 'line three']);
    expect(got[3]).toMatchObject({ ref: 2 });
  });

  it('emits on a named stream, creating it for the account', async () => {
    const a = await account();
    const conv = await mint(a);
    const res = await post(route(conv.magic_link, 'tokens', { stream_name: 'curl-bot' }), 'hi', 'text/plain', a.credential);
    const body = await res.json<{ stream_id: string; stream_name: string }>();
    expect(body.stream_name).toBe('curl-bot');
    expect(body.stream_id).not.toBe(conv.stream_id);
    const info = await inspect(a, conv.alias);
    expect(info.streams.map((s: { stream_name: string }) => s.stream_name).sort()).toEqual(['curl-bot', conv.stream_name].sort());
  });

  it('rejects bad batches whole: nothing of a rejected batch is logged', async () => {
    const a = await account();
    const b = await account();
    const conv = await mint(a);
    const url = route(conv.magic_link, 'tokens');
    const cases: Array<[string, string, number, string, string?]> = [
      ['ok\n{"data":5}\n', 'application/x-ndjson', 400, 'invalid_token'],
      [JSON.stringify(['ok', { data: 'x'.repeat(65_537) }]), 'application/json', 413, 'token_too_large'],
      [JSON.stringify(['ok', { data: 'x', ref: 999 }]), 'application/json', 400, 'invalid_ref'],
      [JSON.stringify(Array.from({ length: 1001 }, () => 'x')), 'application/json', 413, 'too_many_tokens'],
      ['{not json', 'application/json', 400, 'invalid_json'],
      ['[]', 'application/json', 400, 'invalid_token'],
      ['x'.repeat(1_048_577), 'text/plain', 413, 'body_too_large'],
      ['<a/>', 'application/xml', 415, 'unsupported_media_type'],
      ['"x"', 'application/json', 409, 'stream_name_conflict', 'stream_name'],
    ];
    await post(route(conv.magic_link, 'tokens', { stream_name: 'taken' }), 'x', 'text/plain', b.credential);
    const before = (await inspect(a, conv.alias)).head_seq;
    for (const [body, type, status, error, named] of cases) {
      const res = await post(named ? route(conv.magic_link, 'tokens', { stream_name: 'taken' }) : url, body, type, a.credential);
      expect(res.status, error).toBe(status);
      expect(await res.json(), error).toMatchObject({ error });
    }
    expect((await inspect(a, conv.alias)).head_seq).toBe(before);
  });

  it('needs a bearer and a write link', async () => {
    const a = await account();
    const conv = await mint(a);
    const none = await post(route(conv.magic_link, 'tokens'), 'x', 'text/plain');
    expect([none.status, (await none.json<{ error: string }>()).error]).toEqual([401, 'missing_credential']);
    const bad = await post(route(conv.magic_link, 'tokens'), 'x', 'text/plain', a.credential.replace('.', '.x'));
    expect([bad.status, (await bad.json<{ error: string }>()).error]).toEqual([401, 'invalid_credential']);
    const ro = await post(route(conv.observer_link, 'tokens'), 'x', 'text/plain', a.credential);
    expect([ro.status, (await ro.json<{ error: string }>()).error]).toEqual([403, 'read_only']);
    const forged = await post(route(conv.magic_link.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')), 'tokens'), 'x', 'text/plain', a.credential);
    expect(forged.status).toBe(403);
  });
});

describe('GET …/events (SSE)', () => {
  it('streams joined, then replays from Last-Event-ID, then live frames, with id = seq', async () => {
    const a = await account();
    const conv = await mint(a);
    const emitter = await connect(conv.magic_link, { credential: a.credential });
    await emitter.next(isType('joined'));
    for (let i = 0; i < 5; i++) emitter.send({ type: 'token', data: `t${i}` });
    await barrier(emitter);
    const res = await SELF.fetch(route(conv.observer_link, 'events'), { headers: { accept: 'text/event-stream', 'last-event-id': '3' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const later = (async () => {
      emitter.send({ type: 'token', data: 'live' });
    })();
    const events = await readEvents(res, (ev) => ev.some((e) => e.data?.includes('"live"')));
    await later;
    const named = events.filter((e) => e.event);
    expect(named[0].event).toBe('joined');
    expect(named.slice(1).map((e) => [e.id, e.event, JSON.parse(e.data!).data])).toEqual([
      ['4', 'token', 't2'], ['5', 'token', 't3'], ['6', 'token', 't4'], ['7', 'token', 'live'],
    ]);
    expect(JSON.parse(named[1].data!)).toMatchObject({ type: 'token', seq: 4, stream_id: conv.stream_id });
  });

  it('honours since and integrity=chain, and refuses bad cursors with 400', async () => {
    const a = await account();
    const conv = await mint(a);
    const emitter = await connect(conv.magic_link, { credential: a.credential });
    await emitter.next(isType('joined'));
    emitter.send({ type: 'token', data: 'x' });
    await barrier(emitter);
    const res = await SELF.fetch(route(conv.observer_link, 'events', { since: '0', integrity: 'chain' }));
    const events = await readEvents(res, (ev) => ev.filter((e) => e.id).length >= 2);
    expect(events.filter((e) => e.id).map((e) => JSON.parse(e.data!).chain)).toHaveLength(2);
    expect(events.filter((e) => e.id).every((e) => /^[0-9a-f]{64}$/.test(JSON.parse(e.data!).chain))).toBe(true);
    for (const since of ['x', '-1', '99']) {
      const bad = await SELF.fetch(route(conv.observer_link, 'events', { since }));
      expect(bad.status, since).toBe(400);
      expect(await bad.json()).toMatchObject({ error: 'invalid_cursor' });
    }
    const foreign = await SELF.fetch(route(conv.observer_link, 'events'), { headers: { 'last-event-id': '12345' } });
    expect(foreign.status).toBe(400);
    const wrongAccept = await SELF.fetch(route(conv.observer_link, 'events'), { headers: { accept: 'application/json' } });
    expect(wrongAccept.status).toBe(406);
    const noToken = await SELF.fetch(route(conv.observer_link, 'events').replace(/\?.*$/, ''));
    expect(noToken.status).toBe(403);
  });
});

describe('GET …/history', () => {
  it('pages through the log with next_since and reports truncation', async () => {
    const a = await account();
    const conv = await mint(a, { history: { max_frames: 20 } });
    const emitter = await connect(conv.magic_link, { credential: a.credential });
    await emitter.next(isType('joined'));
    for (let i = 0; i < 30; i++) emitter.send({ type: 'token', data: `t${i}` });
    await barrier(emitter);
    const page1 = await (await SELF.fetch(route(conv.observer_link, 'history', { since: '0', limit: '15' }))).json<Record<string, any>>();
    expect(page1).toMatchObject({ head_seq: 31, first_seq: 12, next_since: 26, more: true, truncated: { from_seq: 1, to_seq: 11 }, epoch: conv.epoch });
    expect(page1.frames.map((f: { seq: number }) => f.seq)).toEqual(Array.from({ length: 15 }, (_, i) => 12 + i));
    const page2 = await (await SELF.fetch(route(conv.observer_link, 'history', { since: String(page1.next_since) }))).json<Record<string, any>>();
    expect(page2.frames.map((f: { seq: number }) => f.seq)).toEqual([27, 28, 29, 30, 31]);
    expect(page2).toMatchObject({ more: false, next_since: 31 });
    expect(page2.truncated).toBeUndefined();
    for (const [params, error] of [[{ limit: '0' }, 'invalid_limit'], [{ limit: '1001' }, 'invalid_limit'], [{ since: 'abc' }, 'invalid_cursor']] as const) {
      const res = await SELF.fetch(route(conv.observer_link, 'history', params));
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error });
    }
  });
});
