import { beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { AmsClient, connectUrl, type Minted } from '../../src/client';
import { accounts, open, sharedBroker } from './support';

const { broker } = sharedBroker();
let api: AmsClient;
let conv: Minted;
let creds: { a: string; b: string };

beforeAll(async () => {
  api = new AmsClient(broker.url);
  const [a, b] = await accounts(api, 2);
  creds = { a: a.credential, b: b.credential };
  conv = await api.createConversation(a, { stream_name: 'owner' });
});
/** Connects with a raw `ws` client the way the published clients do, and reports how it ended. */
function attempt(url: string, headers: Record<string, string> = {}, protocols?: string[]) {
  return new Promise<{ code: number; reason: string; first?: string; protocol?: string }>((resolve) => {
    const ws = new WebSocket(url, protocols, { headers });
    let first: string | undefined;
    ws.on('message', (m) => {
      first ??= m.toString();
      ws.close(1000);
    });
    ws.on('error', () => {});
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString(), first, protocol: ws.protocol }));
  });
}

describe('published clients (ws) see the exact close codes and reasons', () => {
  const cases: Array<[string, () => [string, Record<string, string>?], number, string]> = [
    ['no token', () => [connectUrl(conv.magic_link).replace(/\?.*$/, ''), { Authorization: `Bearer ${creds.a}` }], 4001, 'invalid_magic_link'],
    ['unknown alias', () => [connectUrl(conv.magic_link).replace(conv.alias, 'nobody-here'), { Authorization: `Bearer ${creds.a}` }], 4005, 'conversation_not_found'],
    ['altered token', () => [connectUrl(conv.magic_link).replace('?t=w', '?t=r'), { Authorization: `Bearer ${creds.a}` }], 4001, 'invalid_magic_link'],
    ['missing credential', () => [connectUrl(conv.magic_link), {}], 4002, 'invalid_credential'],
    ['bad stream name', () => [connectUrl(conv.magic_link), { Authorization: `Bearer ${creds.a}`, 'X-AMS-Stream-Name': 'no spaces' }], 4400, 'invalid_stream_name_header'],
    ['bad metadata', () => [connectUrl(conv.magic_link), { Authorization: `Bearer ${creds.a}`, 'X-AMS-Stream-Metadata': 'e30' + '!' }], 4400, 'invalid_stream_metadata_header'],
    ['foreign stream name', () => [connectUrl(conv.magic_link), { Authorization: `Bearer ${creds.b}`, 'X-AMS-Stream-Name': 'owner' }], 4004, 'stream_name_conflict'],
  ];
  for (const [what, make, code, reason] of cases) {
    it(`${what} → ${code} ${reason}`, async () => {
      const [url, headers] = make();
      const end = await attempt(url, headers);
      expect({ code: end.code, reason: end.reason }).toEqual({ code, reason });
    });
  }

  it('a plain GET on /connect is 426 upgrade_required', async () => {
    const res = await fetch(connectUrl(conv.magic_link).replace(/^ws/, 'http'));
    expect(res.status).toBe(426);
    expect(await res.json()).toMatchObject({ error: 'upgrade_required' });
  });

  it('the first frame is joined; metadata in base64 arrives intact', async () => {
    const meta = Buffer.from(JSON.stringify({ model: 'x', note: 'ünïcode ✓' })).toString('base64');
    const end = await attempt(connectUrl(conv.magic_link), { Authorization: `Bearer ${creds.b}`, 'X-AMS-Stream-Name': 'meta-check', 'X-AMS-Stream-Metadata': meta });
    expect(JSON.parse(end.first!)).toMatchObject({ type: 'joined', stream_name: 'meta-check', metadata: { model: 'x', note: 'ünïcode ✓' } });
  });

  it('a browser-style client authenticates with the ams.bearer subprotocol and gets ams.v1 back', async () => {
    const url = `${connectUrl(conv.magic_link)}&stream_name=browser-tab&self_subscribe=1`;
    const end = await attempt(url, {}, ['ams.v1', `ams.bearer.${creds.b}`]);
    expect(end.protocol).toBe('ams.v1');
    expect(JSON.parse(end.first!)).toMatchObject({ type: 'joined', stream_name: 'browser-tab', self_subscribe: true });
  });

  it('an observer hears both sides and is closed 4903 when it emits', async () => {
    const obs = open(conv.observer_link);
    const sa = open(conv.magic_link, { credential: creds.a, streamName: 'owner' });
    const sb = open(conv.magic_link, { credential: creds.b, streamName: 'bee' });
    await Promise.all([obs.joined, sa.joined, sb.joined]);
    sa.send('from a');
    sb.send('from b');
    await obs.next((f) => f.type === 'token' && f.data === 'from a');
    await obs.next((f) => f.type === 'token' && f.data === 'from b');
    obs.send('nope');
    expect(await obs.closed).toEqual({ code: 4903, reason: 'read_only' });
    // Takeover of 'owner' by the same account: the old socket hears 4901.
    const again = open(conv.magic_link, { credential: creds.a, streamName: 'owner' });
    expect(await again.joined).toMatchObject({ resumed: true, stream_id: conv.stream_id });
    expect(await sa.closed).toEqual({ code: 4901, reason: 'stream_displaced' });
    await Promise.all([again.close(), sb.close()]);
  });
});

describe('account creation per client through wrangler dev', () => {
  const create = (ip?: string) => fetch(`${broker.url}/v1/accounts`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(ip ? { 'cf-connecting-ip': ip } : {}) },
    body: JSON.stringify({ namespace: `rate-e2e-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}` }),
  });

  it('limits a client by the address it arrives with, and never the local machine', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) statuses.push((await create('198.51.100.7')).status);
    expect(statuses).toEqual([...new Array(10).fill(201), 429]);
    const refused = await create('198.51.100.7');
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await refused.json()).toMatchObject({ error: 'signup_rate_limited' });
    // The dev server stamps 127.0.0.1 on requests without the header: a local broker does not limit its own machine.
    for (let i = 0; i < 12; i++) expect((await create()).status).toBe(201);
  });
});
