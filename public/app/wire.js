// @ts-check
/**
 * The page's connection to the wire, with a resume cursor. Two transports
 * deliver the same frames: a WebSocket on `/connect` (to speak, or to observe
 * with an observer link) and Server-Sent Events on `/events` (to watch with
 * any link and no credential). After a drop either one reconnects with
 * `since` = the last seq delivered and `epoch`, so the broker replays the gap;
 * each frame reaches `onFrame` once, in seq order.
 */
import { CLOSE, LOGGED_FRAME_TYPES } from './protocol.js';
import { routeUrl } from './links.js';

const LOGGED = new Set(LOGGED_FRAME_TYPES);
const SSE_EVENTS = ['joined', ...LOGGED_FRAME_TYPES, 'x_truncated', 'x_receipt', 'pong'];
/** A socket that has heard nothing (not even a pong) for this long is presumed dead. */
const SILENCE_MS = 35_000;
const PING_EVERY_MS = 15_000;

/**
 * @typedef {'connecting' | 'live' | 'reconnecting' | 'offline' | 'closed'} WireState
 * @typedef {{ state: WireState, text: string }} WireStatus
 * @typedef {{
 *   transport: 'socket' | 'events',
 *   credential?: string,
 *   streamName?: string,
 *   streamMetadata?: Record<string, unknown>,
 *   since?: number,
 *   epoch?: string,
 *   onFrame: (frame: any) => void,
 *   onRaw?: (text: string, transport: 'socket' | 'events', direction: 'in' | 'out') => void,
 *   onStatus?: (status: WireStatus) => void,
 *   onReceipt?: (id: string, seq: number) => void,
 * }} WireOptions
 */

/** @param {Record<string, unknown>} value */
function base64Json(value) {
  const bytes = new TextEncoder().encode(JSON.stringify(value));
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

/** A client key for a token, so a resend after a drop is recognised as the same token. */
function tokenId() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return `page-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/** Whether reconnecting after this close can help; unknown codes (1006, …) can. */
export function closeIsFinal(/** @type {string} */ reason) {
  const entry = /** @type {Record<string, { code: number, retry: boolean }>} */ (CLOSE)[reason];
  return entry !== undefined && !entry.retry;
}

export class LiveWire {
  /** @param {string} link @param {WireOptions} opts */
  constructor(link, opts) {
    this.link = link;
    this.opts = opts;
    /** Highest seq delivered, and the epoch of the log it counts in. */
    this.lastSeq = opts.since ?? 0;
    /** @type {string | undefined} */
    this.epoch = opts.epoch;
    /** @type {any} the last `joined` frame */
    this.joined = null;
    this.reconnects = 0;
    /** @type {{ id: string, data: string }[]} sent, not yet confirmed by a receipt */
    this.pending = [];
    this.stopped = false;
    this.attempt = 0;
    /** @type {WebSocket | null} */
    this.ws = null;
    /** @type {EventSource | null} */
    this.es = null;
    this.live = false;
    this.resuming = false;
    this.replayed = 0;
    /** @type {{ from_seq: number, to_seq: number } | null} what the last resume could not replay */
    this.lost = null;
    this.resumedAfter = 0;
    this.joinedHead = 0;
    this.lastHeard = 0;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.retryTimer = undefined;
    /** @type {ReturnType<typeof setInterval> | undefined} */
    this.pinger = undefined;
    this.onOnline = () => {
      if (!this.stopped && !this.live && this.retryTimer !== undefined) {
        clearTimeout(this.retryTimer);
        this.retryTimer = undefined;
        this.connect();
      }
    };
  }

  get transport() {
    return this.opts.transport;
  }

  start() {
    addEventListener('online', this.onOnline);
    this.connect();
    return this;
  }

  /** Stops for good (no reconnect). */
  stop() {
    this.stopped = true;
    this.live = false;
    clearTimeout(this.retryTimer);
    clearInterval(this.pinger);
    removeEventListener('online', this.onOnline);
    this.ws?.close(1000, 'bye');
    this.es?.close();
  }

  /**
   * Emits a token on the page's own stream. It is kept until the broker's
   * receipt names its seq, and resent (same id, so never doubled) after a reconnect.
   * @param {string} data
   * @returns {string} the token's client id
   */
  send(data) {
    const id = tokenId();
    this.pending.push({ id, data });
    // A person speaks in lines: each one is a whole utterance (end: true), heard at once, not after the quiet gap.
    if (this.live) this.write({ type: 'token', data, id, end: true });
    return id;
  }

  /** @param {WireState} state @param {string} text */
  status(state, text) {
    this.opts.onStatus?.({ state, text });
  }

  /** @param {Record<string, unknown>} frame */
  write(frame) {
    const text = JSON.stringify(frame);
    if (this.ws?.readyState !== WebSocket.OPEN) return;
    this.ws.send(text);
    if (frame.type !== 'ping') this.opts.onRaw?.(text, 'socket', 'out');
  }

  /** The cursor for this attempt: replay everything retained on the first connect, the gap after that. */
  cursor() {
    return { since: this.lastSeq, epoch: this.epoch };
  }

  connect() {
    if (this.stopped) return;
    this.retryTimer = undefined;
    this.resuming = this.reconnects > 0;
    this.resumedAfter = this.lastSeq;
    this.replayed = 0;
    this.lost = null;
    if (!this.resuming) this.status('connecting', this.transport === 'socket' ? 'Opening a WebSocket on /connect…' : 'Opening a Server-Sent Events tail on /events…');
    if (this.transport === 'socket') this.openSocket();
    else this.openEvents();
  }

  openSocket() {
    const o = this.opts;
    const { since, epoch } = this.cursor();
    const url = routeUrl(this.link, 'connect', {
      stream_name: o.streamName,
      stream_metadata: o.streamMetadata ? base64Json(o.streamMetadata) : undefined,
      receipts: o.credential ? '1' : undefined,
      // A person at the page (self-declared, decision 0155).
      identity_kind: 'human',
      identity_client: 'ams-pages',
      since,
      epoch,
    }, true);
    // Browsers cannot set headers on a WebSocket: the credential rides as a subprotocol.
    const protocols = ['ams.v1', ...(o.credential ? [`ams.bearer.${o.credential}`] : [])];
    const ws = new WebSocket(url, protocols);
    this.ws = ws;
    this.lastHeard = Date.now();
    ws.addEventListener('message', (e) => {
      if (ws !== this.ws) return;
      this.lastHeard = Date.now();
      const text = String(e.data);
      let frame;
      try {
        frame = JSON.parse(text);
      } catch {
        return;
      }
      if (frame.type !== 'pong') this.opts.onRaw?.(text, 'socket', 'in');
      this.deliver(frame);
    });
    ws.addEventListener('close', (e) => {
      if (ws !== this.ws) return;
      this.dropped(e.code, e.reason);
    });
    clearInterval(this.pinger);
    this.pinger = setInterval(() => {
      if (ws !== this.ws || ws.readyState !== WebSocket.OPEN) return;
      if (Date.now() - this.lastHeard > SILENCE_MS) {
        ws.close(4000, 'silent');
        return;
      }
      this.write({ type: 'ping' });
    }, PING_EVERY_MS);
  }

  openEvents() {
    const { since, epoch } = this.cursor();
    const es = new EventSource(routeUrl(this.link, 'events', { since, epoch }));
    this.es = es;
    for (const type of SSE_EVENTS) {
      es.addEventListener(type, (e) => {
        if (es !== this.es) return;
        const me = /** @type {MessageEvent} */ (e);
        let frame;
        try {
          frame = JSON.parse(me.data);
        } catch {
          return;
        }
        const id = LOGGED.has(frame.type) ? `id: ${frame.seq}\n` : '';
        this.opts.onRaw?.(`${id}event: ${type}\ndata: ${me.data}`, 'events', 'in');
        this.deliver(frame);
      });
    }
    // The broker ends a tail the way it closes a socket: with a code and reason.
    es.addEventListener('close', (e) => {
      if (es !== this.es) return;
      let info = { code: 1000, reason: '' };
      try {
        info = JSON.parse(/** @type {MessageEvent} */ (e).data);
      } catch {
        // keep the default
      }
      es.close();
      this.dropped(info.code, info.reason);
    });
    es.addEventListener('error', () => {
      if (es !== this.es) return;
      // EventSource would retry on its own without the epoch; resume explicitly instead.
      es.close();
      this.dropped(1006, '');
    });
  }

  /** @param {any} frame */
  deliver(frame) {
    if (frame.type === 'joined') {
      if (this.epoch !== undefined && frame.epoch !== this.epoch) {
        // Another log: its seqs start again, so the old cursor means nothing in it.
        this.lastSeq = 0;
      }
      this.epoch = frame.epoch;
      this.joined = frame;
      this.joinedHead = frame.seq;
      this.live = true;
      this.attempt = 0;
      this.opts.onFrame(frame);
      this.announce();
      for (const p of this.pending) this.write({ type: 'token', data: p.data, id: p.id, end: true });
      return;
    }
    if (LOGGED.has(frame.type) && typeof frame.seq === 'number') {
      if (frame.seq <= this.lastSeq) return;
      this.lastSeq = frame.seq;
      if (this.resuming && frame.seq <= this.joinedHead) {
        this.replayed++;
        this.opts.onFrame(frame);
        this.announce();
        return;
      }
    }
    if (frame.type === 'x_truncated' && frame.to_seq >= frame.from_seq) {
      this.lost = { from_seq: frame.from_seq, to_seq: frame.to_seq };
      if (this.resuming) this.announce();
    }
    if (frame.type === 'x_receipt') {
      const i = this.pending.findIndex((p) => p.id === frame.id);
      if (i >= 0) {
        this.pending.splice(i, 1);
        this.opts.onReceipt?.(frame.id, frame.seq);
      }
      return;
    }
    this.opts.onFrame(frame);
  }

  announce() {
    const how = this.transport === 'socket' ? 'WebSocket /connect' : 'Server-Sent Events /events';
    if (!this.resuming) {
      this.status('live', `Live over ${how}.`);
      return;
    }
    const n = this.replayed;
    const loss = this.lost
      ? `frames ${this.lost.from_seq}–${this.lost.to_seq} were beyond the broker's history and are lost`
      : 'nothing lost';
    this.status('live', `Reconnected over ${how}: resumed after seq ${this.resumedAfter}; ${n} missed frame${n === 1 ? '' : 's'} replayed, ${loss}.`);
  }

  /** @param {number} code @param {string} reason */
  dropped(code, reason) {
    const wasLive = this.live;
    this.live = false;
    this.ws = null;
    this.es = null;
    clearInterval(this.pinger);
    if (this.stopped) return;
    const why = reason ? `${code} ${reason}` : String(code);
    if (closeIsFinal(reason)) {
      this.stopped = true;
      this.status('closed', `Closed by the broker: ${why}. Reconnecting cannot help.`);
      return;
    }
    const delay = Math.min(5_000, 250 * 2 ** this.attempt) + Math.floor(Math.random() * 150);
    this.attempt++;
    this.reconnects++;
    this.retryTimer = setTimeout(() => this.connect(), delay);
    const lost = wasLive ? `Connection lost (${why})` : `Still no connection (${why})`;
    if (!navigator.onLine) this.status('offline', `${lost}; the browser is offline. Reconnecting when the network is back; will resume after seq ${this.lastSeq}.`);
    else this.status('reconnecting', `${lost}. Reconnecting in ${(delay / 1000).toFixed(1)} s; will resume after seq ${this.lastSeq}.`);
  }
}
