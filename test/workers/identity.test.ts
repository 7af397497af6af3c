/** Who is speaking (decision 0155), default names from the client (0156) and the broker's time on every frame (0157). */
import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { account, barrier, connect, inspect, isType, ISO_TS as ISO, mint, route } from './support';
import { openSession } from './mcp-support';


describe('identity on the wire', () => {
  it('a socket declares its identity by headers; peers hear it on stream_joined, joined.peers and inspect, and its default name is its client\'s', async () => {
    const a = await account();
    const b = await account();
    const conv = await mint(a);
    const sa = await connect(conv.magic_link, { credential: a.credential });
    const ja = await sa.next(isType('joined')) as Record<string, any>;
    expect(ja.identity).toEqual({ kind: 'agent' });
    const sb = await connect(conv.magic_link, {
      credential: b.credential,
      headers: { 'X-AMS-Identity-Kind': 'human', 'X-AMS-Identity-Client': 'Night Shift Console/3.1', 'X-AMS-Identity-Model': 'none' },
    });
    const jb = await sb.next(isType('joined')) as Record<string, any>;
    const who = { kind: 'human', client: 'Night Shift Console/3.1', model: 'none' };
    expect(jb.identity).toEqual(who);
    expect(jb.stream_name).toMatch(/^night-shift-console-[0-9a-f]{4}$/);
    expect(jb.peers).toEqual([expect.objectContaining({ stream_id: conv.stream_id, identity: { kind: 'agent' } })]);
    expect(await sa.next(isType('stream_joined'))).toMatchObject({ stream_name: jb.stream_name, identity: who });
    const streams = (await inspect(a, conv.alias)).streams as Record<string, any>[];
    expect(streams.find((s) => s.stream_name === jb.stream_name)).toMatchObject({ identity: who, connected: true });
    expect(streams.find((s) => s.stream_id === conv.stream_id)).toMatchObject({ identity: { kind: 'agent' } });
  });

  it('query twins declare it when headers cannot, and a header wins over its twin', async () => {
    const a = await account();
    const conv = await mint(a);
    const s = await connect(conv.magic_link, {
      credential: a.credential,
      params: { identity_kind: 'service', identity_client: 'from-query', identity_model: 'q' },
      headers: { 'X-AMS-Identity-Client': 'from-header' },
    });
    expect((await s.next(isType('joined')) as Record<string, any>).identity).toEqual({ kind: 'service', client: 'from-header', model: 'q' });
  });

  it('a takeover by another kind of holder is announced with a stream_metadata carrying the new identity', async () => {
    const a = await account();
    const b = await account();
    const conv = await mint(a);
    const listener = await connect(conv.magic_link, { credential: b.credential });
    await listener.next(isType('joined'));
    const first = await connect(conv.magic_link, { credential: a.credential, headers: { 'X-AMS-Stream-Name': 'desk', 'X-AMS-Identity-Client': 'bot/1' } });
    await first.next(isType('joined'));
    await listener.next((f) => f.type === 'stream_joined' && f.stream_name === 'desk');
    const second = await connect(conv.magic_link, { credential: a.credential, headers: { 'X-AMS-Stream-Name': 'desk', 'X-AMS-Identity-Kind': 'human' } });
    const joined = await second.next(isType('joined')) as Record<string, any>;
    expect(joined).toMatchObject({ resumed: true, identity: { kind: 'human' } });
    expect(await first.closed).toEqual({ code: 4901, reason: 'stream_displaced' });
    const changed = await listener.next(isType('stream_metadata')) as Record<string, any>;
    expect(changed).toMatchObject({ stream_name: 'desk', identity: { kind: 'human' }, metadata: {} });
    expect(changed.ts).toMatch(ISO);
    // The same holder taking over again changes nothing, so nothing is announced.
    const third = await connect(conv.magic_link, { credential: a.credential, headers: { 'X-AMS-Stream-Name': 'desk', 'X-AMS-Identity-Kind': 'human' } });
    await third.next(isType('joined'));
    await barrier(third);
    third.send({ type: 'token', data: 'after', end: true });
    await listener.next(isType('token'));
    expect(listener.frames.filter(isType('stream_metadata'))).toHaveLength(1);
  });

  it.each([
    ['a kind outside the set', { 'X-AMS-Identity-Kind': 'robot' }],
    ['a client over 128 characters', { 'X-AMS-Identity-Client': 'c'.repeat(129) }],
    ['a model with a control character', { 'X-AMS-Identity-Model': 'opus\u001b[2J' }],
    ['an empty client', { 'X-AMS-Identity-Client': '' }],
  ])('%s closes the socket 4400 invalid_identity_header and registers nothing', async (_what, headers) => {
    const a = await account();
    const conv = await mint(a);
    const s = await connect(conv.magic_link, { credential: a.credential, headers: { 'X-AMS-Stream-Name': 'never', ...headers } });
    expect(await s.closed).toEqual({ code: 4400, reason: 'invalid_identity_header' });
    const streams = (await inspect(a, conv.alias)).streams as Record<string, any>[];
    expect(streams.map((x) => x.stream_name)).not.toContain('never');
  });

  it('POST …/tokens refuses a bad identity with 400 invalid_identity and gives a good one to the stream it registers', async () => {
    const a = await account();
    const conv = await mint(a);
    const post = (headers: Record<string, string>) => SELF.fetch(route(conv.magic_link, 'tokens', { stream_name: 'hook' }), {
      method: 'POST', headers: { authorization: `Bearer ${a.credential}`, 'content-type': 'text/plain', ...headers }, body: 'deployed',
    });
    const bad = await post({ 'X-AMS-Identity-Kind': 'daemon' });
    expect(bad.status).toBe(400);
    expect((await bad.json() as { error: string }).error).toBe('invalid_identity');
    expect(((await inspect(a, conv.alias)).streams as Record<string, any>[]).map((x) => x.stream_name)).not.toContain('hook');
    expect((await post({ 'X-AMS-Identity-Kind': 'service', 'X-AMS-Identity-Client': 'ci/9' })).status).toBe(200);
    const streams = (await inspect(a, conv.alias)).streams as Record<string, any>[];
    expect(streams.find((x) => x.stream_name === 'hook')).toMatchObject({ identity: { kind: 'service', client: 'ci/9' } });
  });
});

describe('the broker\'s time on every frame it sends', () => {
  it('joined, x_receipt, stream_joined, stream_left, stream_metadata and x_truncated carry ts', async () => {
    const a = await account();
    const b = await account();
    const conv = await mint(a, { history: { max_frames: 2, max_age_s: 3600 } });
    const sa = await connect(conv.magic_link, { credential: a.credential, headers: { 'X-AMS-Receipts': 'true' } });
    expect((await sa.next(isType('joined')) as Record<string, any>).ts).toMatch(ISO);
    for (let i = 0; i < 4; i++) sa.send({ type: 'token', data: `t${i}`, id: `t${i}` });
    sa.send({ type: 'set_metadata', metadata: { busy: true } });
    const receipts = await sa.count(isType('x_receipt'), 4) as Record<string, any>[];
    for (const r of receipts) expect(r.ts).toMatch(ISO);
    const sb = await connect(conv.magic_link, { credential: b.credential, params: { since: '0' } });
    const jb = await sb.next(isType('joined')) as Record<string, any>;
    expect(jb.ts).toMatch(ISO);
    expect((await sb.next(isType('x_truncated')) as Record<string, any>).ts).toMatch(ISO);
    expect((await sb.next(isType('stream_metadata')) as Record<string, any>).ts).toMatch(ISO);
    sb.close();
    const left = await sa.next(isType('stream_left')) as Record<string, any>;
    expect(left.ts).toMatch(ISO);
    expect((sa.frames.find(isType('stream_joined')) as Record<string, any>).ts).toMatch(ISO);
  });
});

describe('MCP participants are named and described by their client', () => {
  it('an MCP client named "Acme Agent" gets a stream named acme-agent-…, with its identity on ams_join, ams_peers and the wire', async () => {
    const a = await account();
    const conv = await mint(a);
    const ws = await connect(conv.magic_link, { credential: a.credential });
    await ws.next(isType('joined'));
    const m = await openSession(conv.magic_link, undefined, undefined, { name: 'Acme Agent', version: '2.0.1' });
    const joined = await m.ok('ams_join', { identity: { model: 'acme-large' } });
    expect(joined.stream_name).toMatch(/^acme-agent-[0-9a-f]{4}$/);
    const who = { kind: 'agent', client: 'Acme Agent/2.0.1', model: 'acme-large' };
    expect(joined.identity).toEqual(who);
    expect(await ws.next(isType('stream_joined'))).toMatchObject({ stream_name: joined.stream_name, identity: who });
    const peers = await m.ok('ams_peers');
    expect(peers.peers).toEqual([expect.objectContaining({ stream_id: conv.stream_id, identity: { kind: 'agent' } })]);
    // What a model reads: the join line names who joined.
    const other = await openSession(conv.magic_link, undefined, undefined, { name: 'Ünïcode Ågent!!', version: '' });
    const o = await other.ok('ams_join', { identity: { kind: 'human' } });
    expect(o.stream_name).toMatch(/^unicode-agent-[0-9a-f]{4}$/);
    const read = await m.call('ams_recv', { wait_ms: 0 });
    expect(read.text).toContain(`${o.stream_name} joined (human, client Ünïcode Ågent!!)`);
  });

  it('a client whose name leaves no slug is named after its kind, never stream-XXXXXX', async () => {
    const a = await account();
    const conv = await mint(a);
    const m = await openSession(conv.magic_link, undefined, undefined, { name: '助手', version: '1' });
    const joined = await m.ok('ams_join', { identity: { kind: 'service' } });
    expect(joined.stream_name).toMatch(/^service-[0-9a-f]{4}$/);
    expect(joined.identity).toEqual({ kind: 'service', client: '助手/1' });
  });

  it('a bad identity in ams_join is the tool error invalid_identity, and joins nothing', async () => {
    const a = await account();
    const conv = await mint(a);
    const m = await openSession(conv.magic_link);
    for (const identity of [{ kind: 'robot' }, { model: 'x'.repeat(129) }, { model: 'line\nbreak' }]) {
      const r = await m.call('ams_join', { identity });
      expect(r.isError).toBe(true);
      expect(r.value.error).toBe('invalid_identity');
    }
    expect(((await inspect(a, conv.alias)).streams as unknown[]).length).toBe(1);
  });

  it('a resume_key taken to a session of another client announces the new holder\'s identity', async () => {
    const a = await account();
    const conv = await mint(a);
    const ws = await connect(conv.magic_link, { credential: a.credential });
    await ws.next(isType('joined'));
    const first = await openSession(conv.magic_link, undefined, undefined, { name: 'first', version: '1' });
    const j = await first.ok('ams_join');
    await ws.next(isType('stream_joined'));
    const second = await openSession(conv.magic_link, undefined, undefined, { name: 'second', version: '2' });
    await second.ok('ams_join', { resume_key: j.resume_key, identity: { kind: 'human' } });
    expect(await ws.next(isType('stream_metadata'))).toMatchObject({ stream_name: j.stream_name, identity: { kind: 'human', client: 'second/2' } });
  });
});
