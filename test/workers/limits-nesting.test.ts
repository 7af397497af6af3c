/**
 * Issue 14, item 1: metadata nested thousands deep once passed the 16 KiB
 * limit, was stored, and then broke the chain's canonicaliser for everyone.
 * Every way in now refuses it with its documented error, and the
 * conversation keeps serving inspect, sockets and MCP joins.
 */
import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { LIMITS } from '../../src/protocol/limits';
import { account, connect, inspect, isType, mint, route } from './support';
import { openSession } from './mcp-support';
import { brackets, nested } from '../support/shapes';

const b64 = (v: unknown) => btoa(JSON.stringify(v));
const deep = { a: brackets(4_000) };

describe('metadata nesting', () => {
  it('set_metadata nested too deep closes 4400 malformed_frame; at the limit it is accepted; the conversation keeps serving', async () => {
    const owner = await account('nest');
    const conv = await mint(owner);
    const watcher = await connect(conv.magic_link, { credential: (await account('nest')).credential });
    await watcher.next(isType('joined'));
    const ok = await connect(conv.magic_link, { credential: owner.credential, headers: { 'X-AMS-Stream-Name': 'fine' } });
    await ok.next(isType('joined'));
    ok.send({ type: 'set_metadata', metadata: nested(LIMITS.jsonDepth) });
    await watcher.next(isType('stream_metadata'));

    const bad = await connect(conv.magic_link, { credential: owner.credential, headers: { 'X-AMS-Stream-Name': 'bad' } });
    await bad.next(isType('joined'));
    bad.send({ type: 'set_metadata', metadata: deep });
    expect(await bad.closed).toEqual({ code: 4400, reason: 'malformed_frame' });

    const info = await inspect(owner, conv.alias);
    expect(info.streams.find((s: { stream_name: string }) => s.stream_name === 'bad').metadata).toEqual({});
    const m = await openSession(conv.magic_link, owner.credential);
    expect(await m.ok('ams_join', { stream_name: 'mcp' })).toMatchObject({ stream_name: 'mcp' });
    const late = await connect(conv.magic_link, { credential: owner.credential, params: { since: '0' } });
    await late.next(isType('stream_joined'));
    expect((await SELF.fetch(route(conv.magic_link, 'history', { since: '0' }))).status).toBe(200);
  });

  it('X-AMS-Stream-Metadata nested too deep is refused on /connect (4400) and on POST …/tokens (400)', async () => {
    const owner = await account('nest');
    const conv = await mint(owner);
    const s = await connect(conv.magic_link, { credential: owner.credential, headers: { 'X-AMS-Stream-Metadata': b64(deep) } });
    expect(await s.closed).toEqual({ code: 4400, reason: 'invalid_stream_metadata_header' });
    const res = await SELF.fetch(route(conv.magic_link, 'tokens'), {
      method: 'POST',
      headers: { authorization: `Bearer ${owner.credential}`, 'content-type': 'application/json', 'X-AMS-Stream-Metadata': b64(deep) },
      body: JSON.stringify({ tokens: ['x'] }),
    });
    expect(res.status).toBe(400);
    expect((await inspect(owner, conv.alias)).head_seq).toBe(0);
  });

  it('mint refuses deep metadata, stream_metadata and a deep jcs-sha256 id_input', async () => {
    const owner = await account('nest');
    const post = (body: unknown) => SELF.fetch(`http://ams.test/v1/${owner.namespace}/conversations`, {
      method: 'POST', headers: { authorization: `Bearer ${owner.credential}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
    });
    for (const [body, code] of [
      [{ metadata: deep }, 'invalid_metadata'],
      [{ stream_metadata: deep }, 'invalid_stream_metadata'],
      [{ id_kind: 'jcs-sha256', id_input: deep }, 'invalid_id_input'],
      [{ id_kind: 'jcs-sha256', id_input: nested(LIMITS.jsonDepth + 1) }, 'invalid_id_input'],
    ] as const) {
      const res = await post(body);
      expect(res.status, code).toBe(400);
      expect(((await res.json()) as { error: string }).error).toBe(code);
    }
    expect((await post({ id_kind: 'jcs-sha256', id_input: nested(LIMITS.jsonDepth) })).status).toBe(201);
  });

  it('MCP ams_set_metadata and ams_join stream_metadata refuse deep metadata; the stream keeps its old one', async () => {
    const owner = await account('nest');
    const conv = await mint(owner);
    const m = await openSession(conv.magic_link, owner.credential);
    expect((await m.call('ams_join', { stream_name: 'x', stream_metadata: deep })).value.error).toBe('invalid_stream_metadata');
    await m.ok('ams_join', { stream_name: 'x', stream_metadata: { v: 1 } });
    expect((await m.call('ams_set_metadata', { metadata: deep })).value.error).toBe('invalid_metadata');
    const info = await inspect(owner, conv.alias);
    expect(info.streams.find((s: { stream_name: string }) => s.stream_name === 'x').metadata).toEqual({ v: 1 });
  });
});
