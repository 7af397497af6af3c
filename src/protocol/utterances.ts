/**
 * Utterances: what a model hears instead of tokens. Pure functions over the
 * logged frames of a conversation, in seq order, with no clock and no I/O.
 *
 * An utterance is a run of one stream's tokens. It closes at a token that
 * carries `end: true`, when its stream leaves or joins again, when its next
 * token comes after a quiet gap longer than `gapMs` (that token starts the
 * next utterance), or when the reader says the stream has been quiet for
 * more than `gapMs` until `now`. `ams_send` closes an open utterance of its
 * stream by logging an empty `end: true` token before its own.
 *
 * Delivery never repeats text. A reader keeps a cursor `since` and a small
 * `carry`; each call reads the frames after `since` and returns:
 *   - every closed utterance as one message entry, and every join, leave and
 *     metadata change as a short event entry, ordered by position (a message
 *     sits at its first token, an event at its own seq);
 *   - open utterances are held back whole (with everything their stream
 *     logged after them), so a message is not cut into fragments; with
 *     `flush` they are returned as they stand, `complete: false`, and the
 *     next call continues them (`continues: true`) from the following token;
 *   - `next_since`: one below the first held token (or the last seq read when
 *     nothing is held); `carry` remembers, per stream, what beyond
 *     `next_since` was already delivered and which utterance is half told.
 */
import type { ConversationUpdatedFrame, JsonObject, LoggedFrame, StreamFrame } from './frames';
import { DEFAULT_IDENTITY, identityLabel, type Identity } from './identity';

/** A logged frame as the utterance reader takes it: a token may end its utterance (`end: true`). */
export type UtteranceFrame = LoggedFrame;

export interface MessageEntry {
  kind: 'message';
  stream_id: string;
  stream_name: string;
  owner_account_id: string;
  text: string;
  first_seq: number;
  last_seq: number;
  /** False when the utterance was still open (returned by `flush`); a later entry continues it. */
  complete: boolean;
  /** Present when this entry continues an utterance whose start was returned earlier. */
  continues?: true;
}

export interface EventEntry {
  kind: 'joined' | 'left' | 'metadata';
  seq: number;
  stream_id: string;
  stream_name: string;
  owner_account_id: string;
  /** On `joined` and `metadata`: the stream's metadata. */
  metadata?: JsonObject;
  /** On `joined` and `metadata`: who holds the stream, as declared (decision 0155). */
  identity?: Identity;
}

/** The owner changed the conversation's instructions (`x_conversation_updated`): told to everyone, between whatever streams say. */
export interface InstructionsEntry {
  kind: 'instructions';
  seq: number;
  instructions: string;
}

export type Entry = MessageEntry | EventEntry | InstructionsEntry;

/** Per stream: frames up to `through` are delivered; `open_ts` (ms) is the last token of a half-told utterance. */
export interface StreamCarry {
  through: number;
  open_ts?: number;
}
/** What a reader keeps between calls besides `since` (plain JSON, at most one row per stream). */
export type UtteranceCarry = Record<string, StreamCarry>;

export interface ReadOptions {
  /** The cursor the frames follow: every frame has `seq > since`, ascending. */
  since: number;
  /** The quiet gap that closes an utterance, in ms. */
  gapMs: number;
  /** The last seq the caller read (frames it filtered out count). Default: the last frame's seq, else `since`. */
  readThrough?: number;
  /** Now, in ms. When given, an utterance quiet for `gapMs` until now is closed. Omit it when more frames are known to follow. */
  now?: number;
  /** Return open utterances as they stand (`complete: false`). */
  flush?: boolean;
  carry?: UtteranceCarry;
}

export interface ReadResult {
  entries: Entry[];
  next_since: number;
  carry: UtteranceCarry;
  /** How many utterances are held back, open. */
  held: number;
  /** When (ms) the earliest held utterance closes by the quiet gap (more than `gapMs` of quiet) if its stream stays quiet; absent when nothing is held. */
  settles_at?: number;
}

interface Open {
  entry: MessageEntry;
  lastTs: number;
  /** Events of the same stream logged while the utterance is open: they follow it. */
  trailing: EventEntry[];
}

function eventOf(f: Exclude<StreamFrame, { type: 'token' }>): EventEntry {
  const base = { seq: f.seq, stream_id: f.stream_id, stream_name: f.stream_name, owner_account_id: f.owner_account_id };
  if (f.type === 'stream_left') return { kind: 'left', ...base };
  return { kind: f.type === 'stream_joined' ? 'joined' : 'metadata', ...base, metadata: f.metadata, identity: f.identity ?? DEFAULT_IDENTITY };
}

function timeOf(ts: string): number {
  const t = Date.parse(ts);
  if (Number.isNaN(t)) throw new RangeError(`frame ts is not a time: ${ts}`);
  return t;
}

/** Reads the frames after `since` as utterances and events (see the module comment for the rules). */
export function readUtterances(frames: readonly UtteranceFrame[], opts: ReadOptions): ReadResult {
  const carry: UtteranceCarry = {};
  for (const [id, c] of Object.entries(opts.carry ?? {})) carry[id] = { ...c };
  const out: Entry[] = [];
  const open = new Map<string, Open>();
  const delivered = new Map<string, number>();
  const deliver = (e: Entry, streamId: string, through: number) => {
    if (e.kind !== 'message' || e.text !== '' || (e.continues && e.complete)) out.push(e);
    delivered.set(streamId, Math.max(delivered.get(streamId) ?? 0, through));
  };
  const close = (sid: string) => {
    const u = open.get(sid)!;
    open.delete(sid);
    if (carry[sid]) delete carry[sid].open_ts;
    deliver(u.entry, sid, u.entry.last_seq);
    for (const ev of u.trailing) deliver(ev, sid, ev.seq);
  };

  let prev = opts.since;
  for (const f of frames) {
    if (!Number.isSafeInteger(f.seq) || f.seq <= prev) throw new RangeError(`frames must follow since in ascending seq order (got ${f.seq} after ${prev})`);
    prev = f.seq;
    // A frame owned by no stream is carried under the key "": told once, even when read again behind a held utterance.
    const sid = f.type === 'x_conversation_updated' ? '' : f.stream_id;
    const c = carry[sid];
    if (c && f.seq <= c.through) continue;
    if (f.type === 'x_conversation_updated') {
      // It closes nothing and is told at its own place.
      deliver(instructionsOf(f), sid, f.seq);
      continue;
    }
    const u = open.get(sid);
    if (f.type !== 'token') {
      const ev = eventOf(f);
      if (f.type === 'stream_metadata' && u) {
        u.trailing.push(ev);
        continue;
      }
      if (u) close(sid);
      if (c) delete c.open_ts;
      deliver(ev, sid, f.seq);
      continue;
    }
    const ts = timeOf(f.ts);
    let cur = u;
    if (cur && (ts - cur.lastTs > opts.gapMs || cur.trailing.length > 0)) {
      // A token after the quiet gap, or after a metadata change, starts the next utterance.
      close(sid);
      cur = undefined;
    }
    if (!cur) {
      const continues = c?.open_ts !== undefined && ts - c.open_ts <= opts.gapMs;
      // A continuation keeps the mark until it is told (it may be held back, and read again next time).
      if (c && !continues) delete c.open_ts;
      cur = {
        entry: {
          kind: 'message', stream_id: sid, stream_name: f.stream_name, owner_account_id: f.owner_account_id,
          text: '', first_seq: f.seq, last_seq: f.seq, complete: true, ...(continues ? { continues: true as const } : {}),
        },
        lastTs: ts,
        trailing: [],
      };
      open.set(sid, cur);
    }
    cur.entry.text += f.data;
    cur.entry.last_seq = f.seq;
    cur.lastTs = ts;
    if (f.end === true) close(sid);
  }

  const readThrough = Math.max(opts.readThrough ?? prev, prev);
  if (opts.now !== undefined) {
    // Quiet for more than the gap, as between two tokens: a token logged at `now` or later could no longer continue it.
    for (const [sid, u] of [...open]) if (opts.now - u.lastTs > opts.gapMs) close(sid);
    for (const [sid, c] of Object.entries(carry)) if (c.open_ts !== undefined && !open.has(sid) && opts.now - c.open_ts > opts.gapMs) delete c.open_ts;
  }
  let nextSince = readThrough;
  let settlesAt: number | undefined;
  let held = 0;
  for (const [sid, u] of [...open]) {
    if (opts.flush) {
      // Nothing said yet (only empty tokens) is not told; the utterance goes on as if fresh.
      const told = u.entry.text !== '' || u.entry.continues === true;
      u.entry.complete = false;
      close(sid);
      if (told) carry[sid] = { ...(carry[sid] ?? { through: 0 }), open_ts: u.lastTs };
      continue;
    }
    held++;
    nextSince = Math.min(nextSince, u.entry.first_seq - 1);
    settlesAt = Math.min(settlesAt ?? Infinity, u.lastTs + opts.gapMs + 1);
  }
  for (const [sid, through] of delivered) carry[sid] = { ...carry[sid], through: Math.max(carry[sid]?.through ?? 0, through) };
  for (const [sid, c] of Object.entries(carry)) if (c.through <= nextSince && c.open_ts === undefined) delete carry[sid];
  out.sort((a, b) => position(a) - position(b));
  return { entries: out, next_since: nextSince, carry, held, ...(settlesAt !== undefined ? { settles_at: settlesAt } : {}) };
}

function instructionsOf(f: ConversationUpdatedFrame): InstructionsEntry {
  return { kind: 'instructions', seq: f.seq, instructions: f.instructions };
}

function position(e: Entry): number {
  return e.kind === 'message' ? e.first_seq : e.seq;
}

const METADATA_PREVIEW_CHARS = 200;

/**
 * One entry as the transcript a model reads: `[first-last] name: text` for a
 * message (`[n]` for a single token), `+` after the range when it continues
 * an earlier entry, `…` when it is not complete yet; events as `[seq] name
 * joined|left|metadata {…}`, a join or metadata change followed by who holds
 * the stream, `(agent, client c/1.0, model m)`; new instructions as `[seq]
 * (the conversation's instructions changed; …): text`. Continuation lines of the text are indented by
 * two spaces, so nothing a peer writes can start a line that looks like a
 * header.
 */
export function formatEntry(e: Entry): string {
  // "(" cannot start a stream name, so this line is never a speaker's; the owner's text is indented like any message.
  if (e.kind === 'instructions') return `[${e.seq}] (the conversation's instructions changed; the owner's words follow): ${indent(e.instructions)}`;
  if (e.kind !== 'message') {
    const meta = e.kind === 'metadata' ? ` ${preview(e.metadata ?? {})}` : '';
    const who = e.identity ? ` (${identityLabel(e.identity)})` : '';
    return `[${e.seq}] ${e.stream_name} ${e.kind}${meta}${who}`;
  }
  const range = e.first_seq === e.last_seq ? `${e.first_seq}` : `${e.first_seq}-${e.last_seq}`;
  const flags = `${e.continues ? '+' : ''}${e.complete ? '' : '…'}`;
  return `[${range}${flags}] ${e.stream_name}: ${indent(e.text)}`;
}

/** Entries as transcript lines, one entry per header line. */
export function formatTranscript(entries: readonly Entry[]): string {
  return entries.map(formatEntry).join('\n');
}

function indent(text: string): string {
  return text.replace(/\r\n|\r|\n/g, '\n  ');
}

function preview(metadata: JsonObject): string {
  const s = JSON.stringify(metadata);
  return s.length <= METADATA_PREVIEW_CHARS ? s : `${s.slice(0, METADATA_PREVIEW_CHARS)}…`;
}

/**
 * Whether `text` mentions `@name` (ASCII case-insensitive): the `@` starts the
 * text or follows a character that cannot be part of a name or an address
 * (so `bob@example.com` is no mention), and no name continues after it:
 * "." and "-" right after the name are punctuation unless a letter, digit or
 * "_" follows them ("@bob." and "@bob-" mention bob; "@bob.smith" does not).
 */
export function mentions(text: string, name: string): boolean {
  if (name === '') return false;
  const hay = text.toLowerCase();
  const needle = `@${name.toLowerCase()}`;
  for (let i = hay.indexOf(needle); i !== -1; i = hay.indexOf(needle, i + 1)) {
    if (i > 0 && /[A-Za-z0-9._@-]/.test(hay[i - 1]!)) continue;
    let j = i + needle.length;
    while (hay[j] === '.' || hay[j] === '-') j++;
    if (j < hay.length && /[a-z0-9_]/.test(hay[j]!)) continue;
    return true;
  }
  return false;
}

/** Meta keys Claude Code keeps on a `<channel>` tag; it drops any other key. */
export const CHANNEL_META_KEY = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * The params of the one `notifications/claude/channel` sent for a completed
 * utterance: `content` the text, `meta` string values only (Claude Code's
 * schema is `Record<string, string>`; a non-string value makes it drop the
 * notification) under identifier keys. `source` is not a meta key: Claude
 * Code sets that attribute to the server's configured name.
 */
export function channelParams(e: MessageEntry, conversation: string): { content: string; meta: Record<string, string> } {
  if (!e.complete) throw new RangeError('only a completed utterance is pushed');
  return {
    content: e.text,
    meta: {
      from: e.stream_name,
      seq: e.first_seq === e.last_seq ? `${e.first_seq}` : `${e.first_seq}-${e.last_seq}`,
      conversation,
    },
  };
}
