/**
 * Frames in, utterances out: the transcript reader of src/protocol driven by
 * a clock, for every command that listens (tail, chat, pipe). An utterance is
 * told once, when it completes (an `end` token, a leave or rejoin, or the
 * conversation's quiet gap); open ones can be looked at as they grow.
 */
import type { ServerFrame } from '../client';
import { TranscriptReader } from '../protocol/transcript';
import type { Entry, MessageEntry, UtteranceFrame } from '../protocol/utterances';

const LOGGED = new Set(['token', 'stream_joined', 'stream_left', 'stream_metadata']);

export interface FeedEvents {
  /** Completed utterances and joins/leaves, in conversation order. */
  onEntries(entries: Entry[]): void;
  /** The open utterances after every change (for a display that shows them growing). */
  onOpen?(open: MessageEntry[]): void;
}

export class Feed {
  private readonly reader: TranscriptReader;
  private settle: ReturnType<typeof setTimeout> | undefined;
  private pending = false;

  constructor(gapMs: number, since: number | undefined, private readonly events: FeedEvents) {
    this.reader = new TranscriptReader(gapMs, since);
  }

  frame(f: ServerFrame): void {
    if (f.type === 'joined') this.reader.start(f.seq);
    else if (LOGGED.has(f.type)) this.reader.add(f as UtteranceFrame);
    else return;
    // Frames come in bursts: read once after the burst, not once per frame.
    if (this.pending) return;
    this.pending = true;
    setImmediate(() => {
      this.pending = false;
      this.read(Date.now());
    });
  }

  /** Tells everything still open as it stands (the conversation will say no more). */
  flush(): void {
    this.read(Number.MAX_SAFE_INTEGER);
  }

  stop(): void {
    clearTimeout(this.settle);
  }

  private read(now: number): void {
    const { entries, settles_at } = this.reader.read(now);
    if (entries.length > 0) this.events.onEntries(entries);
    this.events.onOpen?.(this.reader.open());
    clearTimeout(this.settle);
    // The broker's clock stamps the frames: never spin when this one runs behind it.
    if (settles_at !== undefined) this.settle = setTimeout(() => this.read(Date.now()), Math.max(settles_at - Date.now() + 25, 100));
  }
}
