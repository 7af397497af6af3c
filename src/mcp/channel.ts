/**
 * The channel push: what wakes an agent in Claude Code. While the client
 * holds the GET stream, each completed utterance of another participant is
 * sent once as `notifications/claude/channel` — never a token, never a
 * partial. The session reads the frames its doorbell pulls through its own
 * utterance reader (cursor `since` and `carry`, kept in the session's stored
 * state, separate from `ams_recv`'s and from the `notifications/ams/*`
 * cursor), and sets a timer for the moment a held utterance closes by the
 * quiet gap, so a speaker who never marks ends is heard too (decision 0097).
 */
import { channelParams, mentions, readUtterances, type MessageEntry, type UtteranceCarry, type UtteranceFrame } from '../protocol/utterances';
import type { Received } from '../conversation/members/rpc';

export const CHANNEL_METHOD = 'notifications/claude/channel';
export const NOTIFY_MODES = ['all', 'mentions', 'off'] as const;
export type NotifyMode = (typeof NOTIFY_MODES)[number];

/** The logged frame types an utterance reader reads; anything else on the pull (none today) is skipped. */
const READ_TYPES = new Set(['token', 'stream_joined', 'stream_left', 'stream_metadata']);
/** A half-told utterance is pushed as it stands once it holds this many characters (it would outgrow the stored state). */
export const CHANNEL_PARTIAL_MAX_CHARS = 32_000;

/** An utterance the reader had to return in pieces (its frames filled a whole pull): the pieces so far. */
interface Partial {
  stream_name: string;
  owner_account_id: string;
  text: string;
  first_seq: number;
  last_seq: number;
}

/** The push's own state, stored with the session. */
export interface ChannelState {
  notify: NotifyMode;
  /** Frames up to here are read (the utterance reader's `next_since`). */
  since: number;
  carry: UtteranceCarry;
  partial: Record<string, Partial>;
}

export function freshChannel(notify: NotifyMode, since: number): ChannelState {
  return { notify, since, carry: {}, partial: {} };
}

export interface ChannelPush {
  content: string;
  meta: Record<string, string>;
}

export interface ChannelContext {
  /** The conversation's alias, as `meta.conversation`. */
  conversation: string;
  /** The listener's own stream: never pushed back, and the name `mentions` looks for. */
  stream_id: string | null;
  stream_name: string | null;
  gap_ms: number;
  /** How many frames a pull asks for: a pull this full that cuts no utterance flushes. */
  max: number;
}

export interface ChannelStep {
  pushes: ChannelPush[];
  /** When to read again without a new frame (a held utterance closes by the gap then). */
  settles_at?: number;
  changed: boolean;
}

/**
 * Reads one pull (`r`, whose frames follow `from`, which is at most
 * `state.since`) into the pushes it makes, updating `state`. `now` is the
 * clock, passed only when the pull reached the head.
 */
export function channelStep(state: ChannelState, r: Received, ctx: ChannelContext, now: number | undefined): ChannelStep {
  if (state.notify === 'off') return { pushes: [], changed: false };
  const frames = r.frames.filter((f) => (f.seq as number) > state.since && READ_TYPES.has(f.type as string)) as unknown as UtteranceFrame[];
  const readThrough = Math.max(r.next_since, state.since);
  const opts = { since: state.since, gapMs: ctx.gap_ms, readThrough, carry: state.carry, ...(now !== undefined ? { now } : {}) };
  let res = readUtterances(frames, opts);
  // One held utterance fills a pull that more frames follow: take it in pieces, so the cursor moves on.
  if (res.held > 0 && res.next_since <= state.since && r.frames.length >= ctx.max && r.next_since < r.head_seq) res = readUtterances(frames, { ...opts, flush: true });
  const changed = res.next_since !== state.since || JSON.stringify(res.carry) !== JSON.stringify(state.carry);
  state.since = res.next_since;
  state.carry = res.carry;

  const done: MessageEntry[] = [];
  for (const e of res.entries) {
    if (e.kind !== 'message' || e.stream_id === ctx.stream_id) continue;
    const prev = state.partial[e.stream_id];
    let whole: MessageEntry = e;
    if (prev && e.continues) {
      whole = { ...e, text: prev.text + e.text, first_seq: prev.first_seq };
    } else if (prev) {
      done.push(fromPartial(e.stream_id, prev));
    }
    delete state.partial[e.stream_id];
    if (whole.complete || whole.text.length >= CHANNEL_PARTIAL_MAX_CHARS) done.push({ ...whole, complete: true });
    else state.partial[e.stream_id] = { stream_name: whole.stream_name, owner_account_id: whole.owner_account_id, text: whole.text, first_seq: whole.first_seq, last_seq: whole.last_seq };
  }
  // A half-told utterance whose stream the reader no longer carries as open was closed (gap, leave): it is complete as it stands.
  for (const [sid, p] of Object.entries(state.partial)) {
    if (state.carry[sid]?.open_ts === undefined) {
      done.push(fromPartial(sid, p));
      delete state.partial[sid];
    }
  }
  done.sort((a, b) => a.first_seq - b.first_seq);
  // A half-told utterance closes by the gap after its last piece, like a held one. (A mark the
  // clock has passed but the reader kept belongs to a continuation it holds, which has its own time.)
  let settles = res.settles_at;
  for (const sid of Object.keys(state.partial)) {
    const openTs = state.carry[sid]?.open_ts;
    if (openTs !== undefined && now !== undefined && openTs + ctx.gap_ms > now) settles = Math.min(settles ?? Infinity, openTs + ctx.gap_ms);
  }
  const pushes = done
    .filter((m) => state.notify === 'all' || (ctx.stream_name !== null && mentions(m.text, ctx.stream_name)))
    .map((m) => channelParams(m, ctx.conversation));
  return { pushes, changed: changed || done.length > 0, ...(settles !== undefined ? { settles_at: settles } : {}) };
}

function fromPartial(streamId: string, p: Partial): MessageEntry {
  return { kind: 'message', stream_id: streamId, stream_name: p.stream_name, owner_account_id: p.owner_account_id, text: p.text, first_seq: p.first_seq, last_seq: p.last_seq, complete: true };
}

/** The frames a pull should start after: the earlier of the notification cursor and the reader's. */
export function pullFrom(notified: number, channel: ChannelState | undefined): number {
  return channel && channel.notify !== 'off' ? Math.min(notified, channel.since) : notified;
}
