/**
 * A wrapper chain in one conversation, over a real `wrangler dev` with real
 * clients (decisions/0130): a speaker S (WebSocket), a translator T
 * (WebSocket, subscribed to S) that re-speaks each of S's utterances
 * upper-cased, and an agent A (the official MCP SDK client, subscribed to T)
 * that answers each one. A hears exactly T's utterances and none of S's; T
 * never hears A; nothing is heard twice.
 */
import { describe, expect, it } from 'vitest';
import type { AmsSocket } from '../../src/client';
import type { ServerFrame } from '../../src/protocol/frames';
import { mcpAgent, type McpAgent } from './mcp-client';
import { accounts, barrier, open, sharedBroker, waitFor } from './support';

const e2e = sharedBroker();

type Tok = ServerFrame & { type: 'token'; stream_name: string; data: string; seq: number; end?: boolean };
const tokens = (s: AmsSocket) => s.frames.filter((f) => f.type === 'token') as Tok[];

/** T: for every utterance of S it hears, speaks the same text upper-cased, as one utterance. */
function translate(t: AmsSocket): void {
  let open = '';
  t.onFrame((f) => {
    if (f.type !== 'token') return;
    const tok = f as Tok;
    open += tok.data;
    if (tok.end) {
      t.send(open.toUpperCase(), { end: true });
      open = '';
    }
  });
}

describe('a wrapper chain in one conversation', () => {
  it('S → T (subscribed to S) → A (subscribed to T): A hears exactly T\'s utterances, T never hears A, nothing twice', async () => {
    const [sAcc, tAcc] = await accounts(e2e.api, 2);
    const conv = await e2e.api.createConversation(sAcc, { stream_name: 'speaker' });
    const s = open(conv.magic_link, { credential: sAcc.credential, streamName: 'speaker' });
    const t = open(conv.magic_link, { credential: tAcc.credential, streamName: 'translator', subscribeStreams: ['speaker'] });
    const [, tJoined] = await Promise.all([s.joined, t.joined]);
    expect((tJoined as { subscribed_streams?: string[] }).subscribed_streams).toEqual(['speaker']);
    translate(t);
    const a: McpAgent = await mcpAgent(conv.magic_link);
    const aJoined = await a.ok('ams_join', { stream_name: 'agent', subscribe_streams: ['translator'] });
    expect(aJoined.subscribed_streams).toEqual(['translator']);

    const said = Array.from({ length: 8 }, (_, i) => `utterance ${i}: the build is green`);
    const heard: { stream_name: string; text: string; first_seq: number }[] = [];
    let since: number | undefined;
    for (const [i, text] of said.entries()) {
      // S speaks in pieces, marking the end; T re-speaks; A reads and answers.
      const words = text.split(' ');
      words.forEach((w, k) => s.send(k < words.length - 1 ? `${w} ` : w, k === words.length - 1 ? { end: true } : {}));
      await barrier(s);
      for (let calls = 0; heard.length <= i; calls++) {
        if (calls > 10) throw new Error(`A heard ${heard.length} utterances, waiting for ${i + 1}`);
        const r = await a.ok('ams_recv', { format: 'entries', wait_ms: 10_000, ...(since !== undefined ? { since } : {}) });
        since = r.next_since;
        heard.push(...r.entries.filter((e: { kind: string }) => e.kind === 'message'));
      }
      await a.ok('ams_send', { data: `ack ${i}` });
    }
    // S (unfiltered) hears T and A: the answers have all been logged and delivered.
    await waitFor(() => tokens(s).filter((f) => f.stream_name === 'agent').length === said.length, 20_000, 'the answers at S');
    await barrier(t);

    // A: exactly T's utterances, in order, none of S's, none twice.
    expect(heard.map((e) => e.stream_name)).toEqual(said.map(() => 'translator'));
    expect(heard.map((e) => e.text)).toEqual(said.map((x) => x.toUpperCase()));
    expect(new Set(heard.map((e) => e.first_seq)).size).toBe(heard.length);
    // T: only S's tokens, never A's (nor its own), each once.
    const tHeard = tokens(t);
    expect(new Set(tHeard.map((f) => f.stream_name))).toEqual(new Set(['speaker']));
    expect(new Set(tHeard.map((f) => f.seq)).size).toBe(tHeard.length);
    expect(tHeard.map((f) => f.data).join('')).toBe(said.join(''));
    // Joins still reach T: it saw A arrive although it does not hear A speak.
    expect(t.frames.some((f) => f.type === 'stream_joined' && (f as { stream_name: string }).stream_name === 'agent')).toBe(true);
    // S heard T's and A's, each once.
    const sHeard = tokens(s);
    expect(new Set(sHeard.map((f) => f.seq)).size).toBe(sHeard.length);
    expect(sHeard.filter((f) => f.stream_name === 'translator').map((f) => f.data)).toEqual(said.map((x) => x.toUpperCase()));
    await a.close();
    s.close();
    t.close();
  });
});
