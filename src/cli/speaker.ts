/**
 * Taking part with a write link: one WebSocket (reconnecting and resuming,
 * src/client) that holds one stream. Every token carries an id and waits for
 * its receipt; whatever a dropped connection had not receipted is sent again
 * with the same ids on the next one, so the broker logs it once (PROTOCOL.md
 * §4.2 idempotency).
 */
import WebSocket from 'ws';
import { AmsClient, ResumingSocket, type Closed, type JoinedFrame, type JsonObject, type ServerFrame, type WebSocketConstructor } from '../client';
import { LIMITS } from '../protocol/limits';
import { requireCredential } from './config';
import { CliError, closedError, reaching } from './errors';
import type { Link } from './link';
import { identityHeaders } from './version';

export const NodeWebSocket = WebSocket as unknown as WebSocketConstructor;

/** Inspect with the link's own token: the first call of every link command, so a bad link or host fails fast and plainly. */
export async function inspectLink(link: Link): Promise<JsonObject> {
  return reaching(link.origin, () => new AmsClient(link.origin).inspectWithLink(link.url));
}

/** Text cut into tokens of at most the token limit in UTF-8 bytes, never inside a character. */
export function tokenPieces(text: string, maxBytes = LIMITS.tokenBytes): string[] {
  if (Buffer.byteLength(text) <= maxBytes) return [text];
  const pieces: string[] = [];
  let piece = '';
  let bytes = 0;
  for (const ch of text) {
    const b = Buffer.byteLength(ch);
    if (bytes + b > maxBytes) {
      pieces.push(piece);
      piece = '';
      bytes = 0;
    }
    piece += ch;
    bytes += b;
  }
  pieces.push(piece);
  return pieces;
}

export interface SpeakerOptions {
  streamName?: string;
  kind: 'human' | 'agent';
  onFrame?(frame: ServerFrame): void;
  /** The connection was lost and is being made again, or is live again. */
  onConnection?(state: 'lost' | 'live'): void;
}

interface Pending {
  data: string;
  end?: boolean;
}

export class Speaker {
  joined!: JoinedFrame;
  /** The conversation as inspect described it when joining. */
  info!: JsonObject;
  private endWith!: (closed: Closed) => void;
  /** Resolves when the broker ends the connection for good (a final close code). */
  readonly ended = new Promise<Closed>((resolve) => (this.endWith = resolve));
  private readonly pending = new Map<string, Pending>();
  private readonly prefix = `cli-${Math.random().toString(36).slice(2, 10)}`;
  private n = 0;
  private live = false;
  private everLive = false;
  private openUtterance = false;
  private drained: Array<() => void> = [];
  private socket!: ResumingSocket;

  private constructor() {}

  /** Joins with the saved credential for the link's host; fails with one line if that cannot be done. */
  static async join(link: Link, opts: SpeakerOptions): Promise<Speaker> {
    const { credential } = requireCredential(link.origin);
    const info = await inspectLink(link);
    const s = new Speaker();
    s.info = info;
    let first!: (r: { joined?: JoinedFrame; closed?: Closed }) => void;
    const firstOutcome = new Promise<{ joined?: JoinedFrame; closed?: Closed }>((resolve) => (first = resolve));
    s.socket = new ResumingSocket(link.url, { credential, streamName: opts.streamName, receipts: true, headers: identityHeaders(opts.kind), WebSocket: NodeWebSocket }, {
      onFrame: (f) => {
        if (f.type === 'joined') s.joined = f;
        if (f.type === 'x_receipt' && f.id !== undefined) s.receipted(f.id);
        opts.onFrame?.(f);
      },
      onStatus: (status, detail) => {
        if (status === 'live') {
          s.live = true;
          first({ joined: s.joined });
          if (s.everLive) opts.onConnection?.('live');
          s.everLive = true;
          s.resend();
        } else if (status === 'connecting') {
          if (s.live) opts.onConnection?.('lost');
          s.live = false;
        } else if (status === 'closed') {
          s.live = false;
          first({ closed: detail });
          s.endWith(detail ?? { code: 1000, reason: 'closed' });
        }
      },
    }).start();
    const outcome = await firstOutcome;
    if (outcome.closed) throw closedError(outcome.closed.code, outcome.closed.reason);
    if (s.joined.scope === 'read') {
      s.socket.close();
      throw closedError(4903, 'read_only');
    }
    return s;
  }

  get streamName(): string {
    return this.joined.stream_name ?? '';
  }

  /** One whole utterance. */
  say(text: string): void {
    this.end();
    this.emit(text, true);
  }

  /** Part of an utterance, sent now; `end()` closes it, or `last` with this part. */
  write(text: string, last = false): void {
    if (last && text === '') return this.end();
    if (text !== '') this.emit(text, last);
  }

  end(): void {
    if (!this.openUtterance) return;
    this.emit('', true);
  }

  /** Resolves once the broker has logged everything sent so far. */
  drain(): Promise<void> {
    if (this.pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.drained.push(resolve));
  }

  async close(): Promise<void> {
    this.socket.close();
    await this.socket.current?.closed;
  }

  private emit(text: string, end: boolean): void {
    const pieces = tokenPieces(text);
    pieces.forEach((data, i) => {
      const id = `${this.prefix}-${(this.n++).toString(36)}`;
      const p: Pending = end && i === pieces.length - 1 ? { data, end: true } : { data };
      this.pending.set(id, p);
      if (this.live) this.socket.send(p.data, { id, ...(p.end ? { end: true } : {}) });
    });
    this.openUtterance = !end;
  }

  private resend(): void {
    for (const [id, p] of this.pending) this.socket.send(p.data, { id, ...(p.end ? { end: true } : {}) });
  }

  private receipted(id: string): void {
    this.pending.delete(id);
    if (this.pending.size > 0) return;
    for (const resolve of this.drained.splice(0)) resolve();
  }
}

/** A final close while speaking, as an error. */
export function endedError(closed: Closed): CliError {
  return closedError(closed.code, closed.reason);
}
