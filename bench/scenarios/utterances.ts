/**
 * What a model pays to hear a peer, and how soon: a WebSocket peer speaks one
 * utterance of 10, 100 or 1,000 tokens (the last with `end: true`), and two
 * MCP agents (the official SDK client on the magic link's `/mcp`) hear it —
 * one waiting in `ams_recv` (wait_ms 25,000, looping; the membership keeps its cursor), one
 * holding the GET stream for the channel push.
 *
 * Context bytes per character of peer text: for `ams_recv`, the text content
 * of every result that carried part of the utterance (what a model reads);
 * for the push, the `<channel source="ams" …>` block Claude Code makes of the
 * notification. Latency: from sending the `end` token to the `ams_recv`
 * result that completes the text, and to the push arriving. Measured on
 * whatever the broker does now: a broker that ignores `end` closes the
 * utterance by its quiet gap instead, and a broker whose `ams_recv` returns
 * frames returns at the first token.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type WebSocket from 'ws';
import { linkRoute } from '../../src/client';
import { LIMITS } from '../../src/protocol/limits';
import { openAms, closeAll } from '../targets/ams';
import type { AmsTarget } from '../targets/ams';

export const UTTERANCE_SIZES = [10, 100, 1_000] as const;

export interface UtteranceRow {
  tokens: number;
  chars: number;
  recvBytesPerChar: number;
  recvCalls: number;
  pushBytesPerChar: number;
  /** Median over the rounds, ms from the `end` token's send. */
  recvMs: number;
  pushMs: number;
}

export interface UtteranceResult {
  rows: UtteranceRow[];
  rounds: number;
}

type ToolResult = { structuredContent?: Record<string, any>; isError?: boolean; content?: { type: string; text?: string }[] };
const WORDS = ['the ', 'build ', 'is ', 'green ', 'and ', 'I ', 'will ', 'take ', 'flaky ', 'tests '];
const utf8 = (s: string) => new TextEncoder().encode(s).length;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * The speaker's text a result carries: from the transcript a model reads
 * (`ams_recv`'s default, decision 0095: `[first-last+…] name: text`, later
 * lines of a message indented by two spaces), or from JSON entries or frames.
 */
function textOf(r: { value?: Record<string, any>; text: string }, speaker: string): string {
  const v = r.value;
  if (Array.isArray(v?.entries)) return v.entries.filter((e: any) => e.kind === 'message').map((e: any) => e.text as string).join('');
  if (Array.isArray(v?.frames)) return v.frames.filter((f: any) => f.type === 'token').map((f: any) => f.data as string).join('');
  let out = '';
  let inSpeaker = false;
  for (const line of r.text.split('\n')) {
    const head = /^\[\d+(?:-\d+)?\+?…?\] ([^:\s]+): (.*)$/.exec(line);
    if (head) {
      inSpeaker = head[1] === speaker;
      if (inSpeaker) out += head[2];
    } else if (line.startsWith('  ') && inSpeaker) out += `\n${line.slice(2)}`;
    else inSpeaker = false;
  }
  return out;
}

/** The block Claude Code shows the model for a channel notification (attribute values as sent; these need no escaping). */
function channelBlock(params: { content: string; meta: Record<string, string> }): string {
  const attrs = Object.entries(params.meta).map(([k, v]) => ` ${k}="${v}"`).join('');
  return `<channel source="ams"${attrs}>\n${params.content}\n</channel>`;
}

export async function utterances(t: AmsTarget, rounds: number, compression: boolean): Promise<UtteranceResult> {
  const conv = await t.mint();
  const url = linkRoute(conv.magic_link, 'mcp');
  const poller = new Client({ name: 'ams-bench-recv', version: '1.0.0' });
  await poller.connect(new StreamableHTTPClientTransport(new URL(url)));
  const pushed = new Client({ name: 'ams-bench-push', version: '1.0.0' });
  const arrivals: { at: number; params: { content: string; meta: Record<string, string> } }[] = [];
  pushed.fallbackNotificationHandler = async (n) => {
    if (n.method === 'notifications/claude/channel') arrivals.push({ at: performance.now(), params: n.params as never });
  };
  await pushed.connect(new StreamableHTTPClientTransport(new URL(url)));
  const call = async (c: Client, name: string, args: Record<string, unknown>) => {
    const r = (await c.callTool({ name, arguments: args })) as ToolResult;
    const text = (r.content ?? []).map((x) => x.text ?? '').join('');
    if (r.isError) throw new Error(`${name} failed: ${JSON.stringify(r.structuredContent ?? r.content)}`);
    return { value: r.structuredContent, text };
  };
  const sockets: WebSocket[] = [];
  const receipts = new Map<string, () => void>();
  try {
    await call(poller, 'ams_join', { stream_name: 'listener' });
    await call(pushed, 'ams_join', { stream_name: 'pushed' });
    const account = await t.account(1);
    let speakerClosed = '';
    const speaker = await openAms(conv.magic_link, { credential: account.credential, streamName: 'speaker', compression, receipts: true }, (text) => {
      const f = JSON.parse(text) as { type: string; id?: string };
      if (f.type === 'x_receipt' && f.id) receipts.get(f.id)?.();
    }, (code, reason) => {
      speakerClosed = `the speaker's socket closed ${code} ${reason}`;
      for (const r of receipts.values()) r();
    });
    sockets.push(speaker);
    // The joins before the first utterance are not part of it: read past them (the membership keeps the cursor).
    for (let seen = ''; ;) {
      const r = await call(poller, 'ams_recv', { wait_ms: 0 });
      seen += r.text;
      if (r.text === '(nothing new)' && seen.includes('speaker joined')) break;
      if (r.text === '(nothing new)') await new Promise((res) => setTimeout(res, 20));
    }

    const rows: UtteranceRow[] = [];
    let sent = 0;
    for (const tokens of UTTERANCE_SIZES) {
      const per: { recvBytes: number; calls: number; pushBytes: number; recvMs: number; pushMs: number; chars: number }[] = [];
      for (let round = 0; round < rounds; round++) {
        const words = Array.from({ length: tokens }, (_, i) => WORDS[i % WORDS.length]!);
        const text = words.join('');
        const pushedBefore = arrivals.length;
        // The poller waits before the first token, as a model in its loop does.
        let heard = '';
        let recvBytes = 0;
        let calls = 0;
        let recvDone = 0;
        const polling = (async () => {
          while (heard.length < text.length) {
            const r = await call(poller, 'ams_recv', { wait_ms: 25_000 });
            const got = textOf(r, 'speaker');
            if (got !== '') {
              heard += got;
              recvBytes += utf8(r.text);
              calls++;
            }
          }
          recvDone = performance.now();
        })();
        await new Promise((r) => setTimeout(r, 50));
        let endAt = 0;
        const last = `u${++sent}`;
        const lastLogged = new Promise<void>((resolve) => receipts.set(last, resolve));
        for (let i = 0; i < tokens; i++) {
          const isLast = i === tokens - 1;
          if (isLast) endAt = performance.now();
          speaker.send(JSON.stringify({ type: 'token', data: words[i], ...(isLast ? { end: true, id: last } : {}) }));
        }
        await lastLogged;
        receipts.delete(last);
        if (speakerClosed) throw new Error(speakerClosed);
        await polling;
        if (heard !== text) throw new Error(`ams_recv heard ${JSON.stringify(heard.slice(0, 80))}… instead of the ${tokens}-token utterance`);
        const deadline = performance.now() + 30_000;
        while (arrivals.length === pushedBefore && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
        const push = arrivals[pushedBefore];
        if (!push || push.params.content !== text || arrivals.length !== pushedBefore + 1) {
          throw new Error(`expected one channel push with the ${tokens}-token text, got ${arrivals.length - pushedBefore}`);
        }
        per.push({ recvBytes, calls, pushBytes: utf8(channelBlock(push.params)), recvMs: recvDone - endAt, pushMs: push.at - endAt, chars: text.length });
        // The speaker's stream refills what this utterance took of its emit budget before the next one: on a fast
        // machine three 1,000-token utterances back to back outrun it (4929 rate_limited). Nothing is timed meanwhile.
        await new Promise((r) => setTimeout(r, (tokens / LIMITS.emitRatePerSecond) * 1000));
      }
      const chars = per[0]!.chars;
      rows.push({
        tokens, chars,
        recvBytesPerChar: median(per.map((p) => p.recvBytes / p.chars)),
        recvCalls: median(per.map((p) => p.calls)),
        pushBytesPerChar: median(per.map((p) => p.pushBytes / p.chars)),
        recvMs: median(per.map((p) => p.recvMs)),
        pushMs: median(per.map((p) => p.pushMs)),
      });
    }
    return { rows, rounds };
  } finally {
    await closeAll(sockets);
    await poller.close().catch(() => {});
    await pushed.close().catch(() => {});
  }
}
