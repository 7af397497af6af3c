/**
 * `GET {link path}/transcript`: the conversation as plain text for a shell
 * (`curl -N`). The Worker reads the conversation's SSE tail (`/events`, read
 * scope, the same admission) and cuts it into utterances with the shared
 * reader: one line per completed utterance, `name: text`, and `name joined` /
 * `name left`. A timer at the reader's `settles_at` closes an utterance by
 * the quiet gap when no frame comes to do it (decision 0098).
 */
import { Hono } from 'hono';
import { conversationStub } from '../conversation/conversation-stub';
import type { Env } from '../control/env';
import { AmsError } from '../protocol/errors';
import { LIMITS } from '../protocol/limits';
import { takeSseEvents } from '../protocol/sse';
import { TranscriptReader, transcriptText } from '../protocol/transcript';
import type { Entry, UtteranceFrame } from '../protocol/utterances';
import { DEFAULT_IDENTITY, identityLabel, type Identity } from '../protocol/identity';
import { forward, httpAdmission } from './stream';

export const transcript = new Hono<{ Bindings: Env }>();

/** After this long without a byte, an empty line (never part of an utterance: its line breaks are indented). */
export const TRANSCRIPT_KEEP_ALIVE_MS = 30_000;

const READ_TYPES = new Set(['token', 'stream_joined', 'stream_left', 'stream_metadata', 'x_conversation_updated']);

/** `?last=N`: utterances told before going live, at most. */
export const TRANSCRIPT_LAST_MAX = 100;

/**
 * One entry as a transcript line (without its line feed); null for what the
 * transcript does not show. `holders` knows who holds each stream: a metadata
 * change is shown only when it brings a new holder (`name is now (human)`).
 */
export function transcriptLine(e: Entry, holders = new Map<string, string>()): string | null {
  if (e.kind === 'left') return `${e.stream_name} left`;
  // A broker line ("-- "), like "-- closed": no stream name has a space, so no speaker's line looks like it.
  if (e.kind === 'instructions') return `-- instructions (the owner's words): ${transcriptText(e.instructions)}`;
  if (e.kind === 'joined' || e.kind === 'metadata') {
    const who = identityLabel(e.identity ?? DEFAULT_IDENTITY);
    const was = holders.get(e.stream_id);
    holders.set(e.stream_id, who);
    if (e.kind === 'joined') return `${e.stream_name} joined (${who})`;
    return was !== undefined && was !== who ? `${e.stream_name} is now (${who})` : null;
  }
  if (e.kind !== 'message') return null;
  return `${e.stream_name}${e.continues ? ' (cont.)' : ''}: ${transcriptText(e.text)}`;
}

/** The tail's SSE body as transcript text. */
export function transcriptBody(sse: ReadableStream<Uint8Array>, reader: TranscriptReader): ReadableStream<Uint8Array> {
  const upstream = sse.getReader();
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  const out = writable.getWriter();
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  let settle: ReturnType<typeof setTimeout> | undefined;
  let keepAlive: ReturnType<typeof setTimeout> | undefined;
  let done = false;
  const stop = () => {
    done = true;
    clearTimeout(settle);
    clearTimeout(keepAlive);
  };
  const write = (text: string) => {
    if (done) return;
    // The reader went away: stop reading the tail too.
    out.write(encoder.encode(text)).catch(() => {
      stop();
      void upstream.cancel().catch(() => {});
    });
    clearTimeout(keepAlive);
    keepAlive = setTimeout(() => write('\n'), TRANSCRIPT_KEEP_ALIVE_MS);
  };
  /** Who holds each stream (its label), from `joined`'s peers and the frames since. */
  const holders = new Map<string, string>();
  const writeLines = (entries: Entry[]) => {
    const lines = entries.map((e) => transcriptLine(e, holders)).filter((l): l is string => l !== null);
    if (lines.length > 0) write(`${lines.join('\n')}\n`);
  };
  const finish = (closing?: string) => {
    if (done) return;
    // Whatever is still held is told as it stands: the conversation will say no more.
    writeLines(reader.read(Number.MAX_SAFE_INTEGER).entries);
    if (closing) write(`-- closed: ${closing}\n`);
    stop();
    void out.close().catch(() => {});
  };
  const readNow = () => {
    if (done) return;
    const { entries, settles_at } = reader.read(Date.now());
    writeLines(entries);
    clearTimeout(settle);
    // The conversation's clock stamps the frames: never spin when this one runs behind it.
    if (settles_at !== undefined) settle = setTimeout(readNow, Math.max(settles_at - Date.now() + 25, 100));
  };
  keepAlive = setTimeout(() => write('\n'), TRANSCRIPT_KEEP_ALIVE_MS);
  void (async () => {
    let buffered = '';
    try {
      for (;;) {
        const { done: ended, value } = await upstream.read();
        if (ended || done) break;
        const { events, rest } = takeSseEvents(buffered + decoder.decode(value, { stream: true }));
        buffered = rest;
        let changed = false;
        for (const ev of events) {
          const frame = JSON.parse(ev.data) as { type?: string; seq?: number; reason?: string; peers?: { stream_id: string; identity?: Identity }[] };
          if (ev.event === 'joined' && typeof frame.seq === 'number') {
            reader.start(frame.seq);
            for (const p of frame.peers ?? []) holders.set(p.stream_id, identityLabel(p.identity ?? DEFAULT_IDENTITY));
          }
          else if (ev.event === 'close') return finish(frame.reason ?? 'closed');
          else if (READ_TYPES.has(ev.event) && frame.type === ev.event) {
            reader.add(frame as UtteranceFrame);
            changed = true;
          }
        }
        if (changed) readNow();
      }
      finish();
    } catch (err) {
      console.error('AMS: a transcript failed', err);
      stop();
      void out.abort(err).catch(() => {});
    }
  })();
  return readable;
}

/** `?last=N`: an integer 0–100, or `400 invalid_limit`. */
function parseLast(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,3}$/.test(value) || Number(value) > TRANSCRIPT_LAST_MAX) throw new AmsError('invalid_limit', `last must be an integer from 0 to ${TRANSCRIPT_LAST_MAX}.`);
  return Number(value);
}

transcript.get('/:ns/conversations/:alias/transcript', async (c) => {
  const { ns, alias, a } = await httpAdmission(c);
  const last = parseLast(c.req.query('last'));
  if (last !== undefined && a.since === undefined && !a.since_invalid) {
    // Start where the last N completed utterances begin (a bad link is refused by /events below, as without `last`).
    const seen = await conversationStub(c.env, ns, alias).linkView(a.claims, last, Number.MAX_SAFE_INTEGER);
    if (seen.ok) a.since = seen.view.recent.messages[0] ? seen.view.recent.messages[0].first_seq - 1 : seen.view.head_seq;
  }
  const events = await forward(c.env, ns, alias, '/events', { ...a, integrity: false });
  if (events.status !== 200 || !events.body) return events;
  const record = await conversationStub(c.env, ns, alias).describe();
  const gap = record?.utterance_gap_ms ?? LIMITS.utteranceGapDefaultMs;
  return new Response(transcriptBody(events.body, new TranscriptReader(gap, a.since)), {
    headers: {
      'content-type': 'text/plain; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      'x-accel-buffering': 'no',
      'x-content-type-options': 'nosniff',
      // Compressed, a line would wait in the encoder's buffer; each line must reach the shell as it is written.
      'content-encoding': 'identity',
    },
  });
});
