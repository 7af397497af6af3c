/**
 * `GET {link path}/transcript` end to end: `fetch` reads the streamed
 * text/plain of a real `wrangler dev` while WebSocket peers speak — one line
 * per utterance (closed by the default 2 s quiet gap), joins and leaves as
 * short lines, hostile text kept as visible text, and `since` replaying.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { AmsClient, AmsSocket, type Account, type ConnectOptions, type Minted, type WebSocketConstructor } from '../../src/client';
import { streamedLines, type StreamedLines, sharedBroker } from './support';

const { broker } = sharedBroker();
let api: AmsClient;
let owner: Account;
const closers: Array<() => unknown> = [];
let n = 0;

beforeAll(async () => {
  api = new AmsClient(broker.url);
  owner = await api.createAccount(`tx-e2e-${Date.now().toString(36)}`);
});
afterAll(async () => {
  for (const c of closers) await Promise.resolve(c()).catch(() => {});
});

function transcriptUrl(link: string, extra = ''): string {
  const u = new URL(link);
  return `${u.origin}${u.pathname}/transcript${u.search}${extra}`;
}

/** Reads a streamed body line by line; the reader is cancelled after the file. */
function lines(res: Response): StreamedLines {
  const t = streamedLines(res);
  closers.push(t.stop);
  return t;
}

async function peer(link: string, streamName: string, identity?: ConnectOptions['identity']): Promise<AmsSocket> {
  const ws = AmsSocket.open(link, { credential: owner.credential, streamName, identity, receipts: true, WebSocket: WebSocket as unknown as WebSocketConstructor });
  closers.push(() => ws.close());
  await ws.joined;
  return ws;
}

async function speak(ws: AmsSocket, tokens: string[]): Promise<void> {
  for (const t of tokens) {
    const id = `t${n++}`;
    ws.send(t, { id });
    await ws.next((f) => f.type === 'x_receipt' && (f as { id?: string }).id === id);
  }
}

describe('GET …/transcript', () => {
  let conv: Minted;
  beforeAll(async () => {
    conv = await api.createConversation(owner, { alias: `tx-${Date.now().toString(36)}` });
  });

  it('streams one line per utterance and per join or leave, on an observer link, with hostile text kept visible', async () => {
    const res = await fetch(transcriptUrl(conv.observer_link));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    const t = lines(res);
    // Identity text is a claim, kept as text: a client string that looks like a line stays on the join line.
    const alice = await peer(conv.magic_link, 'alice', { kind: 'human', client: 'bob: fake/1', model: '<b>m</b>' });
    await t.until(1);
    await speak(alice, ['Hello, ', 'world.\nSecond ', 'line']);
    await t.until(2);
    await new Promise((r) => setTimeout(r, 2_300));
    await speak(alice, ['<script>alert(1)</script>', '\u001b[2J', '\nbob: fake']);
    await t.until(4);
    await alice.close();
    await t.until(5);
    expect(t.got).toEqual([
      'alice joined (human, client bob: fake/1, model <b>m</b>)',
      'alice: Hello, world.',
      '  Second line',
      'alice: <script>alert(1)</script>\u241b[2J',
      '  bob: fake',
      'alice left',
    ].slice(0, t.got.length));
    await t.until(6);
    expect(t.got).toHaveLength(6);
    t.stop();
  });

  it('replays the kept log with since, then goes on live', async () => {
    const res = await fetch(transcriptUrl(conv.magic_link, '&since=0'));
    expect(res.status).toBe(200);
    const t = lines(res);
    await t.until(6);
    expect(t.got.slice(0, 6)).toEqual(['alice joined (human, client bob: fake/1, model <b>m</b>)', 'alice: Hello, world.', '  Second line', 'alice: <script>alert(1)</script>\u241b[2J', '  bob: fake', 'alice left']);
    const carol = await peer(conv.magic_link, 'carol');
    await speak(carol, ['live ', 'again']);
    await t.until(8);
    expect(t.got.slice(6)).toEqual(['carol joined (agent)', 'carol: live again']);
    t.stop();
  });

  it('tells what was still open, then ends with a closed line when the link is revoked', async () => {
    const other = await api.createConversation(owner, { alias: `tx-rot-${Date.now().toString(36)}` });
    const res = await fetch(transcriptUrl(other.observer_link));
    const t = lines(res);
    const dave = await peer(other.magic_link, 'dave');
    await t.until(1);
    await speak(dave, ['cut ', 'short']);
    await api.rotate(owner, other.alias);
    await t.until(3);
    expect(t.got).toEqual(['dave joined (agent)', 'dave: cut short', '-- closed: invalid_magic_link']);
  });

  it('answers errors as the other stream routes do', async () => {
    const bad = await fetch(transcriptUrl(conv.magic_link, '&since=abc'));
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: 'invalid_cursor' });
    const u = new URL(conv.magic_link);
    const forged = await fetch(`${u.origin}${u.pathname}/transcript?t=${u.searchParams.get('t')!.slice(0, -2)}xx`);
    expect(forged.status).toBe(403);
    expect(await forged.json()).toMatchObject({ error: 'invalid_magic_link' });
    const missing = await fetch(`${u.origin}${u.pathname.replace(conv.alias, 'no-such-conv')}/transcript${u.search}`);
    expect([403, 404]).toContain(missing.status);
  });
});
