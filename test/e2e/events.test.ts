/**
 * The event lines of a real `wrangler dev` (decision 0148): a scripted session
 * produces exactly the expected events, and nothing secret — token text,
 * metadata values, instructions, credentials, link tokens — reaches any log line.
 */
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type Broker } from '../support/broker';
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

function events(): Array<Record<string, unknown>> {
  return broker.output().split('\n').flatMap((line) => {
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

    // Nothing secret in any line of the log, event or not.
    const log = broker.output();
    for (const secret of [MARKER_TOKEN, MARKER_META, MARKER_STREAM_META, MARKER_INSTRUCTIONS, account.credential, fresh, t, account.credential.split('.')[1]]) {
      expect(log.includes(secret), `the log holds ${secret.slice(0, 12)}…`).toBe(false);
    }
  }, 120_000);
});
