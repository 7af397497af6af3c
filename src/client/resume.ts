/**
 * A connection that survives drops: on an unexpected close it reconnects with
 * `since` = the last seq it delivered and the epoch, so the broker replays the
 * gap. Frames reach `onFrame` once each, in seq order.
 */
import { CLOSE } from '../protocol/close-codes';
import type { ServerFrame } from '../protocol/frames';
import { AmsSocket, type Closed, type ConnectOptions } from './socket';

/** Close codes after which reconnecting cannot help. */
const FINAL_CODES = new Set<number>(Object.values(CLOSE).filter((c) => !c.retry).map((c) => c.code));

export interface ResumeEvents {
  onFrame?(frame: ServerFrame): void;
  /** `connecting` before each attempt, `live` after `joined`, `closed` when it gives up or is closed. */
  onStatus?(status: 'connecting' | 'live' | 'closed', detail?: Closed): void;
}

export class ResumingSocket {
  lastSeq: number;
  epoch: string | undefined;
  reconnects = 0;
  current: AmsSocket | undefined;
  private stopped = false;
  private joinedOnce = false;
  /** The stream the broker gave this connection, asked for again on reconnecting. */
  private streamName: string | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly link: string, private readonly opts: ConnectOptions = {}, private readonly events: ResumeEvents = {}, private readonly backoffMs = (n: number) => Math.min(5_000, 100 * 2 ** n)) {
    this.lastSeq = opts.since ?? 0;
    this.epoch = opts.epoch;
  }

  start(): this {
    this.attempt(0);
    return this;
  }

  private attempt(n: number): void {
    if (this.stopped) return;
    this.events.onStatus?.('connecting');
    // Once joined, always resume: even from seq 0, so what is logged while it is away is not skipped.
    const resume = this.joinedOnce || this.opts.since !== undefined;
    const socket = AmsSocket.open(this.link, {
      ...this.opts,
      // A writer comes back to the stream it was given, so its peers see one participant, not a new one each time.
      streamName: this.opts.streamName ?? this.streamName,
      since: resume ? this.lastSeq : undefined,
      epoch: resume ? this.epoch : undefined,
    });
    this.current = socket;
    socket.onFrame((frame) => {
      if (frame.type === 'joined') {
        this.epoch = frame.epoch;
        this.joinedOnce = true;
        this.streamName = frame.stream_name ?? undefined;
        if (!resume) this.lastSeq = frame.seq;
        n = 0;
        this.events.onStatus?.('live');
      } else if ('seq' in frame && frame.type !== 'x_receipt') {
        if (frame.seq <= this.lastSeq) return;
        this.lastSeq = frame.seq;
      }
      this.events.onFrame?.(frame);
    });
    void socket.closed.then((closed) => {
      if (this.stopped || FINAL_CODES.has(closed.code)) {
        this.stopped = true;
        this.events.onStatus?.('closed', closed);
        return;
      }
      this.reconnects++;
      this.timer = setTimeout(() => this.attempt(n + 1), this.backoffMs(n));
    });
  }

  send(data: string, extra: { id?: string; ref?: number; end?: boolean } = {}): void {
    this.current?.send(data, extra);
  }

  close(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.current?.close();
  }
}
