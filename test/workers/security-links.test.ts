/**
 * Magic links on the shell routes, what a prober learns, and hostile content.
 * Every forged, altered, expired, revoked or misplaced token is refused on
 * `/events`, `/history` and `/tokens` as it is on `/connect`; a live SSE tail
 * ends when its link is revoked; an unauthenticated prober learns whether an
 * alias exists and nothing more; markup and SSE framing inside data and
 * metadata travel verbatim and cannot break out of their frame.
 */
import { SELF } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { signLink } from '../../src/control/links';
import {
  Bystander, ORIGIN, Peer, connect, createAccount, expectDocumentedClose, expectDocumentedError, heartbeat, mint, routeOf, tokenOf, upgrade,
  type TestAccount, type TestConversation,
} from '../fuzz/workerd';

let A: TestAccount;
let B: TestAccount;
let conv: TestConversation;
let other: TestConversation;

async function rotate(c: TestConversation): Promise<TestConversation> {
  const res = await SELF.fetch(`${ORIGIN}/v1/${A.namespace}/conversations/${c.alias}/links/rotate`, { method: 'POST', headers: { authorization: `Bearer ${A.credential}` } });
  expect(res.status).toBe(200);
  const links = (await res.json()) as { magic_link: string; observer_link: string };
  return { ...c, ...links };
}

async function linkWith(c: TestConversation, body: object): Promise<string> {
  const res = await SELF.fetch(`${ORIGIN}/v1/${A.namespace}/conversations/${c.alias}/links`, {
    method: 'POST', headers: { authorization: `Bearer ${A.credential}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { link: string }).link;
}

/** The same conversation address with another token. */
function withToken(link: string, t: string): string {
  const url = new URL(link);
  url.searchParams.set('t', t);
  return url.toString();
}

beforeAll(async () => {
  A = await createAccount('secl-a');
  B = await createAccount('secl-b');
  conv = await mint(A);
  other = await mint(A);
});

/** Every shell route, asked with a given link, answers with this error code. */
async function expectShellRoutesRefuse(link: string, code: string): Promise<void> {
  const events = await SELF.fetch(routeOf(link, '/events'), { headers: { accept: 'text/event-stream' } });
  expect(await expectDocumentedError(events), 'events').toBe(code);
  const history = await SELF.fetch(routeOf(link, '/history'));
  expect(await expectDocumentedError(history), 'history').toBe(code);
  const tokens = await SELF.fetch(routeOf(link, '/tokens'), { method: 'POST', headers: { authorization: `Bearer ${A.credential}`, 'content-type': 'text/plain' }, body: 'x' });
  expect(await expectDocumentedError(tokens), 'tokens').toBe(code);
  const ws = await upgrade(routeOf(link, '/connect'), { credential: A.credential });
  const closed = await new Peer(ws.webSocket!, null).closed;
  expect(expectDocumentedClose(closed), 'connect').toBe(code === 'conversation_not_found' ? 'conversation_not_found' : 'invalid_magic_link');
}

describe('tokens that must not open anything', () => {
  it('refuses a forged token (right shape, signed with another secret) on every route', async () => {
    const forged = signLink('not-the-secret-of-this-broker-at-all!', A.namespace, conv.alias, { conversation_id: conv.conversation_id, scope: 'write', generation: 1 });
    await expectShellRoutesRefuse(withToken(conv.magic_link, forged), 'invalid_magic_link');
  });

  it('refuses an altered token on every route', async () => {
    const t = tokenOf(conv.magic_link);
    const altered = t.replace(/\.(\d)/, (_, d) => `.${d === '0' ? '1' : '0'}`);
    expect(altered).not.toBe(t);
    await expectShellRoutesRefuse(withToken(conv.magic_link, altered), 'invalid_magic_link');
  });

  it("refuses another conversation's valid token on every route of this one", async () => {
    await expectShellRoutesRefuse(withToken(conv.magic_link, tokenOf(other.magic_link)), 'invalid_magic_link');
    await expectShellRoutesRefuse(withToken(conv.observer_link, tokenOf(other.observer_link)), 'invalid_magic_link');
  });

  it('refuses an expired token on every route', async () => {
    const link = await linkWith(conv, { scope: 'write', expires_in: 1 });
    const ok = await SELF.fetch(routeOf(link, '/history'));
    expect(ok.status).toBe(200);
    await new Promise((r) => setTimeout(r, 1_100));
    await expectShellRoutesRefuse(link, 'invalid_magic_link');
  });

  it('refuses a revoked token on every route after rotation, and ends the live SSE tail it opened', async () => {
    const c = await mint(A);
    const tail = await SELF.fetch(routeOf(c.observer_link, '/events'), { headers: { accept: 'text/event-stream' } });
    const reader = tail.body!.getReader();
    const dec = new TextDecoder();
    let text = '';
    while (!text.includes('event: joined')) text += dec.decode((await reader.read()).value, { stream: true });
    const fresh = await rotate(c);
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += dec.decode(value, { stream: true });
    }
    expect(text).toMatch(/event: close\ndata: \{"code":4001,"reason":"invalid_magic_link","ts":"[^"]+"\}\n\n$/);
    await expectShellRoutesRefuse(c.magic_link, 'invalid_magic_link');
    await expectShellRoutesRefuse(c.observer_link, 'invalid_magic_link');
    expect((await SELF.fetch(routeOf(fresh.observer_link, '/history'))).status).toBe(200);
  });

  it('refuses a token signed for the same alias in another namespace', async () => {
    const theirs = await mint(B, { alias: conv.alias });
    await expectShellRoutesRefuse(withToken(conv.magic_link, tokenOf(theirs.magic_link)), 'invalid_magic_link');
  });

  it('refuses a write token re-signed as a later generation by anyone without the secret', async () => {
    const t = tokenOf(conv.magic_link);
    const bumped = t.replace(/^w1\./, 'w2.');
    await expectShellRoutesRefuse(withToken(conv.magic_link, bumped), 'invalid_magic_link');
  });
});

describe('what an unauthenticated prober learns', () => {
  // The published connect order checks the address (4005) before the token (4001):
  // anyone can learn whether an alias exists in a namespace. Nothing else leaks.
  it('learns that an alias exists, and nothing about it', async () => {
    const junk = 'w1.00000000000000000000000000.x.AAAAAAAAAAAAAAAAAAAAAA';
    const known = `${ORIGIN}/${A.namespace}/conversations/${conv.alias}?t=${junk}`;
    const unknown = `${ORIGIN}/${A.namespace}/conversations/no-such-alias?t=${junk}`;
    const wsKnown = await new Peer((await upgrade(routeOf(known, '/connect'))).webSocket!, null).closed;
    const wsUnknown = await new Peer((await upgrade(routeOf(unknown, '/connect'))).webSocket!, null).closed;
    expect([wsKnown.code, wsUnknown.code]).toEqual([4001, 4005]);
    for (const route of ['/history', '/events']) {
      const k = await SELF.fetch(routeOf(known, route));
      const u = await SELF.fetch(routeOf(unknown, route));
      const kb = (await k.json()) as { error: string; message: string };
      const ub = (await u.json()) as { error: string; message: string };
      expect([k.status, kb.error, u.status, ub.error]).toEqual([403, 'invalid_magic_link', 404, 'conversation_not_found']);
      for (const text of [kb.message, ub.message]) {
        expect(text).not.toContain(conv.conversation_id);
        expect(text).not.toContain(A.account_id);
        expect(text).not.toContain(conv.stream_name);
      }
    }
    // Inspect without any credential says 401 whether or not the alias exists.
    const i1 = await SELF.fetch(`${ORIGIN}/v1/${A.namespace}/conversations/${conv.alias}`);
    const i2 = await SELF.fetch(`${ORIGIN}/v1/${A.namespace}/conversations/no-such-alias`);
    expect([i1.status, await i1.json()]).toEqual([i2.status, await i2.json()]);
  });
});

describe('hostile content is carried, never interpreted', () => {
  const data = '<script>alert(1)</script>\n\nid: 999\nevent: close\ndata: {"code":4910}\n\n\r\n';
  const metadata = { name: '"><img src=x onerror=alert(1)>', '<b>key</b>': '\u2028\u2029', nl: 'a\n\nevent: close\n' };

  it('delivers markup and SSE framing inside data and metadata verbatim, on the socket, the SSE tail and the history', async () => {
    const c = await mint(A, { stream_metadata: metadata, metadata });
    const by = await Bystander.open(c.observer_link);
    const tail = await SELF.fetch(routeOf(c.observer_link, '/events'), { headers: { accept: 'text/event-stream' } });
    const reader = tail.body!.getReader();
    const emitter = await connect(c.magic_link, { credential: A.credential, headers: { 'x-ams-receipts': '1' } });
    const joined = await emitter.joined();
    expect(joined.metadata).toEqual(metadata);
    await heartbeat(emitter, by, data);
    const dec = new TextDecoder();
    let text = '';
    // joined (carrying retry:), stream_joined, token: three blocks, however many blank lines the data holds.
    while ((text.match(/\n\n/g) ?? []).length < 3) text += dec.decode((await reader.read()).value, { stream: true });
    await reader.cancel();
    // Parse the SSE stream the way a browser does: events are separated by blank lines, fields by their names.
    const events = text.split('\n\n').filter((e) => e.startsWith('id:') || e.startsWith('event:') || e.startsWith('retry:'));
    const parsed = events.map((e) => {
      const fields = Object.fromEntries(e.split('\n').map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 2)]));
      return { id: fields.id, event: fields.event, frame: fields.data ? JSON.parse(fields.data) : undefined };
    });
    expect(parsed.map((p) => p.event)).toEqual(['joined', 'stream_joined', 'token']);
    expect(parsed[1].frame.metadata).toEqual(metadata);
    expect(parsed[2].frame.data).toBe(data);
    expect(parsed.some((p) => p.event === 'close')).toBe(false);
    const history = (await (await SELF.fetch(routeOf(c.observer_link, '/history'))).json()) as { frames: Array<{ type: string; data?: string; metadata?: unknown }> };
    expect(history.frames.find((f) => f.type === 'token')?.data).toBe(data);
    expect(history.frames.find((f) => f.type === 'stream_joined')?.metadata).toEqual(metadata);
    const inspected = (await (await SELF.fetch(`${ORIGIN}/v1/${A.namespace}/conversations/${c.alias}`, { headers: { authorization: `Bearer ${B.credential}` } })).json()) as { metadata: unknown };
    expect(inspected.metadata).toEqual(metadata);
    await emitter.close();
  });

  it('refuses stream names that could smuggle markup or header breaks, on connect and on POST /tokens', async () => {
    for (const name of ['<script>', 'a\r\nX-Evil: 1', 'a b', '../etc', '"quoted"']) {
      const peer = await connect(conv.magic_link, { credential: B.credential, query: { stream_name: name } });
      expect(expectDocumentedClose(await peer.closed)).toBe('invalid_stream_name_header');
      const post = await SELF.fetch(routeOf(conv.magic_link, '/tokens', { stream_name: name }), {
        method: 'POST', headers: { authorization: `Bearer ${B.credential}`, 'content-type': 'text/plain' }, body: 'x',
      });
      expect(await expectDocumentedError(post)).toBe('invalid_stream_name');
    }
  });
});
