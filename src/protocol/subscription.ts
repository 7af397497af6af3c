/**
 * Selective subscription (decisions/0130): the set of stream names a
 * subscriber chose to hear. One pure module, shared by every path that
 * delivers frames (sockets, SSE tails, audience shards, MCP members, history)
 * and by anyone who needs the same rule elsewhere.
 *
 * Contract:
 * - A filter is a set of 1–64 stream names (`STREAM_NAME_RE`); `null` means
 *   "no filter": the subscriber hears every stream it may hear.
 * - It only narrows. Whoever applies it applies it after the rules that
 *   already hold (self-exclusion, scope); it never makes a frame audible.
 * - It holds back `token` and `stream_metadata` frames of streams whose name
 *   is not in it. `stream_joined` and `stream_left` always pass, so a roster
 *   (and `joined.peers`) stays whole.
 * - It matches the name a frame carries, as it was when the frame was logged:
 *   a name no stream has yet matches the stream that takes it later, and a
 *   retired name matches whichever account's stream takes it again.
 */
import { LIMITS } from './limits';
import { STREAM_NAME_RE } from './validate';

/** The names a subscriber hears; null: every stream. */
export type StreamFilter = ReadonlySet<string> | null;

/** The header and its query twin (the connect rule: the header wins when both are present). */
export const SUBSCRIBE_HEADER = 'x-ams-subscribe-streams';
export const SUBSCRIBE_PARAM = 'subscribe_streams';

export type Subscription = { ok: true; streams: string[] } | { ok: false; message: string };

/** Checks a list of names (an MCP argument, or a header split at its commas): every entry valid, 1–64 of them, duplicates folded. */
export function checkSubscription(entries: readonly unknown[]): Subscription {
  if (entries.length === 0) return { ok: false, message: 'subscribe_streams needs at least one stream name.' };
  if (entries.length > LIMITS.subscribeStreams) return { ok: false, message: `subscribe_streams names at most ${LIMITS.subscribeStreams} streams.` };
  for (const e of entries) {
    if (typeof e !== 'string' || e === '') return { ok: false, message: 'subscribe_streams has an empty entry.' };
    if (!STREAM_NAME_RE.test(e)) return { ok: false, message: `subscribe_streams entry ${JSON.stringify(e.slice(0, 80))} is not a stream name (^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$).` };
  }
  return { ok: true, streams: [...new Set(entries as string[])] };
}

/** Parses `a,b` (the header or the query parameter); spaces around a comma are allowed, an empty entry is not. */
export function parseSubscription(text: string): Subscription {
  // Cut before splitting, so a hostile header costs no more than 64 names' worth of work.
  const parts = text.split(',', LIMITS.subscribeStreams + 1).map((p) => p.trim());
  return checkSubscription(parts);
}

export function filterOf(streams: readonly string[] | null | undefined): StreamFilter {
  return streams ? new Set(streams) : null;
}

/** Whether a frame of `type` on stream `streamName` passes the filter. */
export function passes(filter: StreamFilter, type: string, streamName: string): boolean {
  return filter === null || !narrows(type) || filter.has(streamName);
}

/** Whether a filter may hold back a frame of this type (joins and leaves always pass). */
export function narrows(type: string): boolean {
  return type === 'token' || type === 'stream_metadata';
}

// Every logged frame is written `{"type":…,"stream_id":…,"stream_name":…` (frames.ts builds them in that order).
const HEAD_RE = /^\{"type":"([a-z_]+)","stream_id":"[^"]*","stream_name":"([^"]*)"/;

/** The stream name of a logged frame's stored JSON, read from its head, never parsed ('' if it has none). */
export function streamNameOf(json: string): string {
  return HEAD_RE.exec(json)?.[2] ?? '';
}

/** Whether a logged frame's stored JSON passes the filter (replay and paging). */
export function passesJson(filter: StreamFilter, json: string): boolean {
  if (filter === null) return true;
  const m = HEAD_RE.exec(json);
  return m === null || passes(filter, m[1], m[2]);
}
