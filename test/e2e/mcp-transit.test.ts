/**
 * No ams_recv answer lost in transit (decisions/0120), against a real
 * `wrangler dev` with the official MCP SDK client and raw fetch:
 * - a waiting ams_recv its client gives up on (the call times out and is
 *   cancelled) consumes nothing: the next call gets what a peer said
 *   meanwhile; one whose connection is dropped is recovered by Last-Event-ID;
 * - a connection cut while the answer is on the wire, or while the call still
 *   waits (a TCP proxy in the test drops the response mid-way): the SDK client
 *   resumes the stream with Last-Event-ID and gets the answer, and nothing
 *   acknowledged is told again;
 * - GET /mcp's first byte comes with its headers, not with the first keep-alive.
 */
import { connect as tcpConnect, createServer, type Server, type Socket } from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import { AmsClient } from '../../src/client';
import { mcpAgent, type McpAgent } from './mcp-client';
import { uniqueNs, sharedBroker } from './support';

const { broker } = sharedBroker();
let api: AmsClient;

beforeAll(async () => {
  api = new AmsClient(broker.url);
}, 120_000);

async function freshLink(): Promise<string> {
  const owner = await api.createAccount(uniqueNs('transit'));
  return (await api.createConversation(owner, {})).magic_link;
}

/** Puts the reader and the speaker in `link` (the reader with no channel push: only ams_recv tells it). */
async function pair(link: string, readerUrl = link): Promise<{ reader: McpAgent; speaker: McpAgent }> {
  const reader = await mcpAgent(readerUrl);
  const speaker = await mcpAgent(link);
  await reader.ok('ams_join', { stream_name: 'reader', notify: 'off' });
  await speaker.ok('ams_join', { stream_name: 'speaker' });
  await reader.call('ams_recv');
  return { reader, speaker };
}

/** Time for a call abandoned in the broker to finish there (this is when a wrong broker would consume the message). */
const letItFinish = () => new Promise((r) => setTimeout(r, 1_500));

describe('an ams_recv its client gave up on', () => {
  it('consumes nothing when the call times out and is cancelled: the next ams_recv gets the message, once', async () => {
    const { reader, speaker } = await pair(await freshLink());
    // The SDK client gives up after 1 s and sends notifications/cancelled.
    await expect(reader.client.callTool({ name: 'ams_recv', arguments: { wait_ms: 10_000 } }, undefined, { timeout: 1_000 })).rejects.toThrow(/timed out/i);
    await speaker.ok('ams_send', { data: 'said while nobody listened' });
    await letItFinish();
    expect((await reader.call('ams_recv', { wait_ms: 5_000 })).text).toMatch(/\] speaker: said while nobody listened$/);
    expect((await reader.call('ams_recv')).text).toBe('(nothing new)');
    await reader.close();
    await speaker.close();
  }, 60_000);

  it('when its connection is dropped while it waits, is not lost: a Last-Event-ID resumption gets the answer, and the next ams_recv does not repeat it', async () => {
    const link = await freshLink();
    const { reader, speaker } = await pair(link);
    const headers = {
      'content-type': 'application/json', accept: 'application/json, text/event-stream',
      'mcp-session-id': reader.transport.sessionId!, 'mcp-protocol-version': reader.transport.protocolVersion ?? '2025-11-25',
    };
    const drop = new AbortController();
    const res = await fetch(link, {
      method: 'POST', headers, signal: drop.signal,
      body: JSON.stringify({ jsonrpc: '2.0', id: 'abandoned', method: 'tools/call', params: { name: 'ams_recv', arguments: { wait_ms: 10_000 } } }),
    });
    // The priming event: the call is in the broker, waiting, and this is where its stream resumes.
    const priming = new TextDecoder().decode((await res.body!.getReader().read()).value);
    const lastEventId = /^id: (\d+)\nretry: \d+\ndata: \n\n/.exec(priming)?.[1];
    expect(lastEventId).toBeDefined();
    drop.abort();
    await speaker.ok('ams_send', { data: 'said after the drop' });
    await letItFinish();
    // Under wrangler dev the broker never learns of the drop (decisions/0120): the answer went to the
    // event store, and the stream's resumption brings it.
    const resumed = await fetch(link, { headers: { ...headers, accept: 'text/event-stream', 'last-event-id': lastEventId! } });
    expect(resumed.status).toBe(200);
    const text = await readUntil(resumed, '"id":"abandoned"');
    expect(text).toMatch(/speaker: said after the drop/);
    expect((await reader.call('ams_recv')).text).toBe('(nothing new)');
    await reader.close();
    await speaker.close();
  }, 60_000);
});

/** Reads an SSE body until `needle` has arrived, then stops reading. */
async function readUntil(res: Response, needle: string): Promise<string> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  while (!text.includes(needle)) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`ended before ${needle}: ${text}`);
    text += decoder.decode(value, { stream: true });
  }
  await reader.cancel();
  return text;
}

/**
 * A TCP proxy in front of the broker that, when armed, drops one POST
 * response: it lets the bytes through up to the middle of `marker`'s first
 * occurrence, then closes the client's connection.
 */
class CuttingProxy {
  private server: Server | undefined;
  private armed: { marker: string; after: boolean } | undefined;
  cuts = 0;
  url = '';

  async start(target: URL): Promise<void> {
    this.server = createServer((client) => this.pipe(client, target));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    const port = (this.server.address() as { port: number }).port;
    this.url = `http://127.0.0.1:${port}`;
  }

  /** The next POST response holding `marker` is cut in its middle (or, with `after`, right after it). */
  arm(marker: string, after = false): void {
    this.armed = { marker, after };
  }

  private pipe(client: Socket, target: URL): void {
    const upstream = tcpConnect(Number(target.port), target.hostname);
    let post = false;
    let tail = '';
    client.on('data', (d: Buffer) => {
      // Requests on one connection come one after another: the last request line names the current one.
      const m = /(?:^|\r\n)(GET|POST|DELETE|OPTIONS) \//.exec(d.toString('latin1'));
      if (m) post = m[1] === 'POST';
      upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      const text = d.toString('latin1');
      const armed = this.armed;
      const before = tail;
      tail = text.slice(-200);
      const at = armed && post ? (before + text).indexOf(armed.marker) : -1;
      if (!armed || at < 0) {
        client.write(d);
        return;
      }
      this.armed = undefined;
      this.cuts++;
      const into = armed.after ? armed.marker.length : Math.floor(armed.marker.length / 2);
      const cut = Math.min(text.length, Math.max(0, at - before.length + into));
      client.end(d.subarray(0, cut), () => client.destroy());
      upstream.destroy();
    });
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', close);
    upstream.on('close', close);
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

describe('a connection cut while an answer is on its way', () => {
  it('mid-answer, or while the call still waits: the SDK client resumes with Last-Event-ID and gets every message, none told twice', async () => {
    const link = new URL(await freshLink());
    const proxy = new CuttingProxy();
    await proxy.start(new URL(broker.url));
    const viaProxy = `${proxy.url}${link.pathname}${link.search}`;
    const { reader, speaker } = await pair(link.toString(), viaProxy);

    // 1. The answer is cut half way through its bytes.
    proxy.arm('cut-in-the-middle');
    const first = reader.call('ams_recv', { wait_ms: 10_000 });
    await letItFinish();
    await speaker.ok('ams_send', { data: 'cut-in-the-middle of this answer' });
    expect((await first).text).toMatch(/\] speaker: cut-in-the-middle of this answer$/);
    expect(proxy.cuts).toBe(1);

    // 2. The stream is cut right after its priming event, while the call waits; the message comes after.
    proxy.arm('\ndata: \n\n', true);
    const second = reader.call('ams_recv', { wait_ms: 10_000 });
    await letItFinish();
    expect(proxy.cuts).toBe(2);
    await speaker.ok('ams_send', { data: 'said while the stream was cut' });
    expect((await second).text).toMatch(/\] speaker: said while the stream was cut$/);

    // Nothing acknowledged comes again; what follows does.
    expect((await reader.call('ams_recv')).text).toBe('(nothing new)');
    await speaker.ok('ams_send', { data: 'and then this' });
    expect((await reader.call('ams_recv', { wait_ms: 5_000 })).text).toMatch(/^\[\d+\] speaker: and then this$/);
    await reader.close();
    await speaker.close();
    await proxy.stop();
  }, 90_000);
});

describe('GET /mcp', () => {
  it('sends its first byte within a second of its headers (a priming event, not the first keep-alive)', async () => {
    const link = await freshLink();
    const agent = await mcpAgent(link);
    const headers = { accept: 'text/event-stream', 'mcp-session-id': agent.transport.sessionId!, 'mcp-protocol-version': agent.transport.protocolVersion ?? '2025-11-25' };
    const res = await fetch(link, { headers });
    const headersAt = performance.now();
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const first = await reader.read();
    const gap = performance.now() - headersAt;
    expect(new TextDecoder().decode(first.value)).toMatch(/^id: \d+\nretry: \d+\ndata: \n\n/);
    // A correctness bound (the keep-alive comes after 15 s), not a speed target.
    expect(gap).toBeLessThan(1_000);
    await reader.cancel();
    await agent.close();
  }, 30_000);
});
