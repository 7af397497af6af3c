// @ts-check
/**
 * The transcript beside the lanes: what people read instead of tokens. Each
 * utterance of a stream is one entry under its speaker's name, in seq order
 * of its first token; an utterance still being spoken is shown growing as its
 * tokens arrive, and is marked finished when it closes — at a token with
 * `end: true`, when its stream leaves, joins again or changes its metadata,
 * or when the stream is quiet for the conversation's gap (by the broker's
 * time stamps between tokens; by this page's clock since the last arrival).
 * Joins and leaves are short lines. Text only ever reaches the page through
 * `textContent` / text nodes: a token holding `<script>` is shown, never run.
 */
import { el } from './live.js';

/** The broker's default quiet gap; a page that knows the conversation's own sets `gapMs`. */
export const DEFAULT_GAP_MS = 2_000;
/** Entries kept on screen; older ones are in the broker's history. */
const TRANSCRIPT_CAP = 2_000;

/** @typedef {{ root: HTMLElement, text: Text, lastTs: number, arrived: number, firstSeq: number }} OpenUtterance */

export class Transcript {
  /** @param {HTMLElement} container */
  constructor(container) {
    this.container = container;
    this.gapMs = DEFAULT_GAP_MS;
    /** @type {Map<string, OpenUtterance>} open utterances, by stream id */
    this.open = new Map();
    /** The last seq shown: a replay after a reconnect never shows a frame twice. */
    this.lastSeq = 0;
    /** @type {{ id: string, name: string } | null} this page's own stream, whose tokens come back only as receipts */
    this.own = null;
    /** @type {ReturnType<typeof setInterval> | null} */
    this.timer = null;
  }

  /** Applies a wire frame (from the socket or the event tail). @param {any} f */
  apply(f) {
    if (f.type === 'joined') {
      if (f.stream_id) this.own = { id: f.stream_id, name: f.stream_name };
      return;
    }
    if (typeof f.seq !== 'number' || f.seq <= this.lastSeq) return;
    switch (f.type) {
      case 'stream_joined':
      case 'stream_left':
        this.lastSeq = f.seq;
        this.close(f.stream_id);
        this.line(f.stream_name, f.type === 'stream_joined' ? 'joined' : 'left', f.seq);
        return;
      case 'stream_metadata':
        this.lastSeq = f.seq;
        this.close(f.stream_id);
        return;
      case 'x_conversation_updated':
        // Belongs to no stream: it closes no utterance. The owner's words, shown as text.
        this.lastSeq = f.seq;
        this.line('The owner', `changed the conversation's instructions: ${f.instructions === '' ? '(none)' : f.instructions}`, f.seq);
        return;
      case 'token':
        this.lastSeq = f.seq;
        this.token(f.stream_id, f.stream_name, f.data, f.seq, Date.parse(f.ts), f.end === true);
        return;
      default:
    }
  }

  /** A token this page sent, once the broker's receipt gave it a seq. @param {string} data @param {number} seq */
  ownToken(data, seq) {
    if (!this.own || seq <= this.lastSeq) return;
    this.lastSeq = seq;
    this.token(this.own.id, this.own.name, data, seq, Date.now(), false);
  }

  /**
   * @param {string} streamId @param {string} name @param {string} data
   * @param {number} seq @param {number} ts @param {boolean} end
   */
  token(streamId, name, data, seq, ts, end) {
    let u = this.open.get(streamId);
    if (u && ts - u.lastTs > this.gapMs) {
      this.close(streamId);
      u = undefined;
    }
    if (!u) {
      const root = el('div', { class: 'utterance', 'data-testid': 'utterance', 'data-speaker': name, 'data-first-seq': String(seq), 'data-complete': 'false' });
      const text = document.createTextNode('');
      const body = el('div', { class: 'utterance-text' });
      body.append(text);
      root.append(el('div', { class: 'utterance-who' }, name), body);
      this.append(root);
      u = { root, text, lastTs: ts, arrived: Date.now(), firstSeq: seq };
      this.open.set(streamId, u);
      this.tick();
    }
    this.stick(() => u.text.appendData(data));
    u.lastTs = ts;
    u.arrived = Date.now();
    u.root.dataset.lastSeq = String(seq);
    u.root.title = u.firstSeq === seq ? `seq ${seq}` : `seq ${u.firstSeq}–${seq}`;
    if (end) this.close(streamId);
  }

  /** @param {string} streamId */
  close(streamId) {
    const u = this.open.get(streamId);
    if (!u) return;
    this.open.delete(streamId);
    u.root.dataset.complete = 'true';
  }

  /** @param {string} name @param {string} what @param {number} seq */
  line(name, what, seq) {
    this.append(el('div', { class: 'transcript-event', 'data-testid': 'transcript-event', 'data-seq': String(seq) }, `${name} ${what}`));
  }

  /** @param {HTMLElement} node */
  append(node) {
    this.stick(() => {
      this.container.append(node);
      while (this.container.childElementCount > TRANSCRIPT_CAP) this.container.firstElementChild?.remove();
    });
  }

  /** Keeps the box pinned to its end while the reader is at the end. @param {() => void} change */
  stick(change) {
    const box = this.container;
    const atEnd = box.scrollHeight - box.scrollTop - box.clientHeight < 24;
    change();
    if (atEnd) box.scrollTop = box.scrollHeight;
  }

  /** While utterances are open, closes the ones whose stream has been quiet for the gap. */
  tick() {
    if (this.timer !== null) return;
    this.timer = setInterval(() => {
      const now = Date.now();
      for (const [id, u] of [...this.open]) if (now - u.arrived >= this.gapMs) this.close(id);
      if (this.open.size === 0 && this.timer !== null) {
        clearInterval(this.timer);
        this.timer = null;
      }
    }, 250);
  }
}
