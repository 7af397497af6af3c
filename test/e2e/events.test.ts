/**
 * The event lines of a real `wrangler dev` (decision 0148): a scripted session
 * produces exactly the expected events, and nothing secret — token text,
 * metadata values, instructions, credentials, link tokens — reaches any log line.
 */
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type Broker } from '../support/broker';
import { mcpAgent } from './mcp-client';
import { uniqueNs, waitFor } from './support';

let broker: Broker;

beforeAll(async () => {
  broker = await startBroker({ logLevel: 'log' });
}, 90_000);

afterAll(async () => {
  await broker?.stop();
});

const MARKER_TOKEN = 'MARKER-token-7f3a';
const MARKER_META = 'MARKER-meta-91c2';
const MARKER_STREAM_META = 'MARKER-stream-meta-4d0e';
const MARKER_INSTRUCTIONS = 'MARKER-instructions-b85e';

/** The event lines logged so far, or since `from` (an earlier length of the output). */
function events(from = 0): Array<Record<string, unknown>> {
  return broker.output().slice(from).split('\n').flatMap((line) => {
    const at = line.indexOf('{"ams_event"');
    if (at < 0) return [];
    return [JSON.parse(line.slice(at)) as Record<string, unknown>];
  });
}

function socket(url: string, credential?: string): Promise<{ ws: WebSocket; closed: Promise<number>; joined: Promise<void> }> {
  const ws = new WebSocket(url.replace(/^http/, 'ws'), credential ? { headers: { authorization: `Bearer ${credential}` } } : {});
  const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
  const joined = new Promise<void>((r) => ws.on('message', (d) => {
    if (JSON.parse(String(d)).type === 'joined') r();
  }));
  return new Promise((resolve) => {
    ws.on('open', () => resolve({ ws, closed, joined }));
    ws.on('unexpected-response', () => resolve({ ws, closed, joined }));
    ws.on('error', () => undefined);
  });
}

const connectUrl = (link: string) => {
  const u = new URL(link);
  u.pathname += '/connect';
  return u.toString();
};

describe('event lines', () => {
  it('a scripted session logs exactly its events, and no secret reaches the log', async () => {
    const ns = uniqueNs('ev');
    const post = (path: string, body: unknown, credential?: string, type = 'application/json') => fetch(`${broker.url}${path}`, {
      method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body),
      headers: { 'content-type': type, ...(credential ? { authorization: `Bearer ${credential}` } : {}) },
    });
    const from = broker.output().length;
    const account = (await (await post('/v1/accounts', { namespace: ns })).json()) as { credential: string; account_id: string };
    const mintRes = await post(`/v1/${ns}/conversations`, { metadata: { note: MARKER_META }, stream_metadata: { note: MARKER_STREAM_META }, instructions: `Say hello. ${MARKER_INSTRUCTIONS}` }, account.credential);
    expect(mintRes.status).toBe(201);
    const m = (await mintRes.json()) as { magic_link: string; alias: string; conversation_id: string; instructions?: string };
    expect(m.instructions).toContain(MARKER_INSTRUCTIONS);
    const t = new URL(m.magic_link).searchParams.get('t')!;

    const writer = await socket(connectUrl(m.magic_link), account.credential);
    await writer.joined;
    writer.ws.send(JSON.stringify({ type: 'token', data: MARKER_TOKEN, end: true }));

    const refused = await socket(connectUrl(m.magic_link).replace(/t=[^&]+/, 't=not-a-token'));
    expect(await refused.closed).toBe(4001);

    // Batches of 1,000 over HTTP until the stream's rate limit refuses one.
    const batch = Array.from({ length: 1000 }, (_, i) => JSON.stringify({ data: `${MARKER_TOKEN}-${i}` })).join('\n');
    const statuses: number[] = [];
    while (!statuses.includes(429) && statuses.length < 10) {
      statuses.push((await post(`/${ns}/conversations/${m.alias}/tokens?t=${t}&stream_name=flood`, batch, account.credential, 'application/x-ndjson')).status);
    }
    expect(statuses).toContain(429);

    const rotated = await post(`/v1/${ns}/credentials`, {}, account.credential);
    expect(rotated.status).toBe(201);
    const fresh = ((await rotated.json()) as { credential: string }).credential;
    expect(await writer.closed).toBe(4002);

    const del = await fetch(`${broker.url}/v1/${ns}`, { method: 'DELETE', headers: { authorization: `Bearer ${fresh}` } });
    expect(del.status).toBe(200);
    const gone = await socket(connectUrl(m.magic_link), fresh);
    expect(await gone.closed).toBe(4005);

    const expected: Record<string, number> = {
      'account.created': 1, 'conversation.minted': 1, 'connection.accepted': 1, 'stream.joined': 1, 'connection.refused': 2,
      'tokens.emitted': statuses.filter((s) => s === 200).length, 'emit.rate_limited': 1, 'credential.rotated': 1, 'stream.left': 1,
      'account.deleted': 1, 'conversation.deleted': 1,
    };
    const mine = () => events().filter((e) => e.ns === ns);
    const count = () => {
      const n: Record<string, number> = {};
      for (const e of mine()) n[e.ams_event as string] = (n[e.ams_event as string] ?? 0) + 1;
      return n;
    };
    await waitFor(() => Object.keys(expected).every((k) => count()[k] === expected[k]), 20_000, `events ${JSON.stringify(count())}`);
    expect(count()).toEqual(expected);
    expect(mine().find((e) => e.ams_event === 'connection.refused' && e.code === 4001)).toMatchObject({ path: 'ws', alias: m.alias });
    expect(mine().find((e) => e.ams_event === 'stream.left')).toMatchObject({ code: 4002, tokens: 1, account: account.account_id });
    expect(mine().find((e) => e.ams_event === 'credential.rotated')).toMatchObject({ account: account.account_id, generation: 2, closed: 1 });
    // Each refusal above has exactly one line, of its own kind (connection.refused, emit.rate_limited): none is also a request.refused.
    expect(events(from).filter((e) => e.ams_event === 'request.refused')).toEqual([]);

    // Nothing secret in any line of the log, event or not.
    const log = broker.output();
    for (const secret of [MARKER_TOKEN, MARKER_META, MARKER_STREAM_META, MARKER_INSTRUCTIONS, account.credential, fresh, t, account.credential.split('.')[1]]) {
      expect(log.includes(secret), `the log holds ${secret.slice(0, 12)}…`).toBe(false);
    }
  }, 120_000);

  it('account admin: MCP sessions end on rotation, the list pages, deletion closes 4910, and every refusal is an event line', async () => {
    const ns = uniqueNs('adm');
    const call = (method: string, path: string, credential?: string, body?: unknown) => fetch(`${broker.url}${path}`, {
      method, ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      headers: { 'content-type': 'application/json', ...(credential ? { authorization: `Bearer ${credential}` } : {}) },
    });
    const error = async (res: Response) => ({ status: res.status, error: ((await res.json()) as { error: string }).error });
    const account = (await (await call('POST', '/v1/accounts', undefined, { namespace: ns })).json()) as { credential: string; account_id: string };
    const minted: Array<{ alias: string; magic_link: string; observer_link: string }> = [];
    for (let i = 0; i < 3; i++) minted.push((await (await call('POST', `/v1/${ns}/conversations`, account.credential, {})).json()) as (typeof minted)[number]);

    // The list pages: two, then one, then no cursor; a cursor that is not one is refused.
    const page1 = (await (await call('GET', `/v1/${ns}/conversations?limit=2`, account.credential)).json()) as { conversations: Array<{ alias: string }>; next_cursor: string | null };
    expect(page1.conversations).toHaveLength(2);
    expect(page1.next_cursor).toEqual(expect.any(String));
    const page2 = (await (await call('GET', `/v1/${ns}/conversations?limit=2&cursor=${encodeURIComponent(page1.next_cursor!)}`, account.credential)).json()) as typeof page1;
    expect(page2.conversations).toHaveLength(1);
    expect(page2.next_cursor).toBeNull();
    expect([...page1.conversations, ...page2.conversations].map((c) => c.alias).sort()).toEqual(minted.map((m) => m.alias).sort());

    const from = broker.output().length;
    expect(await error(await call('GET', `/v1/${ns}/conversations?cursor=not-a-cursor`, account.credential))).toEqual({ status: 400, error: 'invalid_page_cursor' });

    // An MCP session with the account's credential joins the first conversation.
    const agent = await mcpAgent(minted[0].magic_link, { credential: account.credential });
    const joined = await agent.ok('ams_join', { stream_name: 'mcp-writer' });
    expect(joined.account_id).toBe(account.account_id);
    // A read-link socket in the second conversation: it carries no credential, so rotation leaves it and deletion closes it.
    const reader = new WebSocket(connectUrl(minted[1].observer_link).replace(/^http/, 'ws'));
    const readerClosed = new Promise<number>((r) => reader.on('close', (code) => r(code)));
    reader.on('error', () => undefined);
    await new Promise<void>((r) => reader.on('open', () => r()));

    // Rotation with a wrong credential is refused; with the right one it ends the MCP session.
    expect(await error(await call('POST', `/v1/${ns}/credentials`, `${account.credential}x`))).toEqual({ status: 401, error: 'invalid_credential' });
    const rotated = await call('POST', `/v1/${ns}/credentials`, account.credential);
    expect(rotated.status).toBe(201);
    const fresh = ((await rotated.json()) as { credential: string }).credential;
    // Its next request is refused as documented, whether the revocation's ring or the request itself ended the session first.
    const refusedCall = await agent.call('ams_recv', {}).then(() => null, (err: unknown) => err as { code?: number; message: string });
    expect(refusedCall?.code).toBe(403);
    expect(refusedCall?.message).toMatch(/credential_revoked/);
    await agent.close().catch(() => undefined);
    expect(await error(await call('POST', `/v1/${ns}/credentials`, account.credential))).toEqual({ status: 401, error: 'invalid_credential' });
    expect(await error(await call('DELETE', `/v1/${ns}`, account.credential))).toEqual({ status: 401, error: 'invalid_credential' });

    // Deletion closes live sockets 4910; the links stop working; deleting twice is 404.
    expect((await call('DELETE', `/v1/${ns}`, fresh)).status).toBe(200);
    expect(await readerClosed).toBe(4910);
    const after = new WebSocket(connectUrl(minted[2].observer_link).replace(/^http/, 'ws'));
    after.on('error', () => undefined);
    expect(await new Promise<number>((r) => after.on('close', (code) => r(code)))).toBe(4005);
    const late = await mcpAgent(minted[0].magic_link);
    const lateJoin = await late.call('ams_join', {});
    await late.close().catch(() => undefined);
    expect(lateJoin.isError).toBe(true);
    expect(lateJoin.text).toMatch(/conversation_not_found|invalid_magic_link/);
    expect(await error(await call('DELETE', `/v1/${ns}`, fresh))).toEqual({ status: 404, error: 'account_not_found' });

    const refusals = (lines: Array<Record<string, unknown>>) => lines.filter((e) => e.ams_event === 'request.refused').map((e) => `${e.status} ${e.error}`);
    const expectedRefusals = ['400 invalid_page_cursor', '401 invalid_credential', '401 invalid_credential', '401 invalid_credential', '404 account_not_found'];
    await waitFor(() => refusals(events(from)).length >= expectedRefusals.length, 20_000, 'refusal lines');
    expect(refusals(events(from)).filter((r) => expectedRefusals.includes(r)).sort()).toEqual([...expectedRefusals].sort());
    // A refusal names its route's pattern, never its URL.
    expect(events(from).find((e) => e.error === 'invalid_page_cursor')).toMatchObject({ route: 'GET /v1/:ns/conversations', status: 400 });
    expect(events(from).find((e) => e.error === 'account_not_found')).toMatchObject({ route: 'DELETE /v1/:ns', status: 404 });
    const mine = events(from).filter((e) => e.ns === ns || e.account === account.account_id);
    expect(mine.filter((e) => e.ams_event === 'connection.accepted' && e.path === 'mcp')).toEqual([expect.objectContaining({ alias: minted[0].alias, account: account.account_id, scope: 'write' })]);
    expect(mine.filter((e) => e.ams_event === 'mcp.session_opened')).toHaveLength(1);
    await waitFor(() => events(from).some((e) => e.ams_event === 'mcp.session_collected' && e.reason === 'credential_revoked'), 20_000, 'the session collected');
    expect(mine.filter((e) => e.ams_event === 'conversation.deleted').map((e) => e.alias).sort()).toEqual(minted.map((m) => m.alias).sort());
    expect(mine.filter((e) => e.ams_event === 'connection.refused').map((e) => `${e.path} ${e.code}`).sort()).toEqual(['mcp conversation_not_found', 'ws 4005']);
    // The revoked session's refusal is a line too (more than one if the client's GET stream also asked).
    expect(refusals(events(from))).toContain('403 credential_revoked');

    const log = broker.output();
    for (const secret of [account.credential, fresh, ...minted.map((m) => new URL(m.magic_link).searchParams.get('t')!)]) {
      expect(log.includes(secret), `the log holds ${secret.slice(0, 12)}…`).toBe(false);
    }
  }, 120_000);
});
