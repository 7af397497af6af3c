/**
 * Reading a conversation's frames as a transcript, for whoever shows it to a
 * person: the broker's `GET …/transcript` and the command line. Frames go in
 * as they arrive; completed utterances come out once each, and open ones can
 * be looked at as they grow without being told.
 */
import { readUtterances, type Entry, type MessageEntry, type UtteranceCarry, type UtteranceFrame } from './utterances';

/**
 * Text as a terminal may show it: control characters (which could move the
 * cursor, clear the screen or retitle the window) become visible stand-ins —
 * C0 as their Unicode control pictures (ESC as ␛), DEL as ␡, C1 as U+FFFD —
 * and every line break is followed by two spaces, so no text can begin a line
 * that looks like another speaker's.
 */
export function transcriptText(text: string): string {
  return text
    .replace(/\r\n|\r|\n/g, '\n')
    .replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (ch) => {
      const c = ch.charCodeAt(0);
      return c < 0x20 ? String.fromCharCode(0x2400 + c) : c === 0x7f ? '\u2421' : '\ufffd';
    })
    .replace(/\n/g, '\n  ');
}

/** Frames of open utterances held at most; past it they are told as they stand and continued (`continues`). */
export const TRANSCRIPT_HELD_MAX = 1_000;

/** The reader behind one transcript: frames in, lines out. */
export class TranscriptReader {
  private since: number | undefined;
  private carry: UtteranceCarry = {};
  private frames: UtteranceFrame[] = [];
  /** The head when the tail began: frames up to it are a replay, which the clock must not cut (all of it is old). */
  private replayTo = 0;
  private lastSeq = 0;

  constructor(private readonly gapMs: number, since?: number) {
    this.since = since;
  }

  /** The welcome's head: without a `since`, the transcript starts there. */
  start(head: number): void {
    this.since ??= head;
    this.replayTo = head;
  }

  add(f: UtteranceFrame): void {
    this.since ??= f.seq - 1;
    this.lastSeq = Math.max(this.lastSeq, f.seq);
    if (f.seq > (this.frames.at(-1)?.seq ?? this.since)) this.frames.push(f);
  }

  /** Reads what is there; returns what is now complete and when to read again if nothing comes. */
  read(now: number): { entries: Entry[]; settles_at?: number } {
    if (this.since === undefined) return { entries: [] };
    const caughtUp = this.lastSeq >= this.replayTo;
    const opts = { since: this.since, gapMs: this.gapMs, carry: this.carry, ...(caughtUp ? { now } : {}) };
    let r = readUtterances(this.frames, opts);
    if (r.held > 0 && this.frames.filter((f) => f.seq > r.next_since).length > TRANSCRIPT_HELD_MAX) r = readUtterances(this.frames, { ...opts, flush: true });
    this.since = r.next_since;
    this.carry = r.carry;
    this.frames = this.frames.filter((f) => f.seq > r.next_since);
    return { entries: r.entries, ...(r.settles_at !== undefined ? { settles_at: r.settles_at } : {}) };
  }

  /** The utterances still open, as they stand (in order of their first token); nothing is marked told. */
  open(): MessageEntry[] {
    if (this.since === undefined) return [];
    const r = readUtterances(this.frames, { since: this.since, gapMs: this.gapMs, carry: this.carry, flush: true });
    return r.entries.filter((e): e is MessageEntry => e.kind === 'message' && !e.complete);
  }
}

