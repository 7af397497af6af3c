/**
 * Listening without a credential: the conversation's SSE tail (`…/events`,
 * PROTOCOL.md §6) read with `fetch`, which needs nothing but a link. Like
 * `ResumingSocket` it survives drops: after a dropped connection, a retryable
 * `event: close` or a broker that is briefly gone, it asks again with `since` =
 * the last seq it delivered and the epoch, so frames reach `onFrame` once
 * each, in seq order. It gives up only on what reconnecting cannot mend (a
 * final close code, a refused request such as an expired link), or when it
 * never reached the broker at all and `failFast` is set.
 */
import { CLOSE } from '../protocol/close-codes';
import type { ServerFrame } from '../protocol/frames';
import { takeSseEvents } from '../protocol/sse';
import { AmsHttpError, linkRoute } from './http';

/** Why a tail ended: a close code from the broker, a refused request, or a broker never reached. */
export type TailEnd =
  | { kind: 'closed'; code: number; reason: string }
  | { kind: 'refused'; error: AmsHttpError }
  | { kind: 'unreachable'; cause: string }
  | { kind: 'stopped' };

export interface EventTailOptions {
  /** Start after this seq (and its epoch); without it the tail starts live at the head. */
  since?: number;
  epoch?: string;
  /** More query parameters for `…/events` (e.g. `subscribe_streams`). */
  params?: Record<string, string>;
  headers?: Record<string, string>;
  /** End on the first attempt if the broker cannot be reached, instead of waiting for it. */
  failFast?: boolean;
  /** No byte (keep-alives come every 15 s) for this long: the connection is taken for dead. */
  silenceMs?: number;
  backoffMs?: (attempt: number) => number;
  fetch?: typeof fetch;
}

export interface EventTailEvents {
  onFrame?(frame: ServerFrame): void;
  /** `connecting` before each attempt, `live` after `joined`, `ended` once with why. */
  onStatus?(status: 'connecting' | 'live' | 'ended', end?: TailEnd): void;
}

const RETRY_BY_CODE = new Map<number, boolean>();
for (const { code, retry } of Object.values(CLOSE)) RETRY_BY_CODE.set(code, (RETRY_BY_CODE.get(code) ?? false) || retry);

/** Statuses after which asking again may succeed (the broker busy or restarting). */
const RETRY_STATUS = new Set([429, 500, 502, 503, 504]);

/** Node's `fetch` hides the reason (ECONNREFUSED, ENOTFOUND…) in `cause`. */
function causeOf(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
  return cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err));
}

export class EventTail {
  lastSeq: number;
  epoch: string | undefined;
  reconnects = 0;
  readonly ended: Promise<TailEnd>;
  private finish!: (end: TailEnd) => void;
  private done = false;
  private everLive = false;
  private abort: AbortController | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly link: string, private readonly opts: EventTailOptions = {}, private readonly events: EventTailEvents = {}) {
    this.lastSeq = opts.since ?? 0;
    this.epoch = opts.epoch;
    this.ended = new Promise((resolve) => (this.finish = resolve));
  }

  start(): this {
    void this.attempt(0);
    return this;
  }

  close(): void {
    this.end({ kind: 'stopped' });
  }

  private end(end: TailEnd): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    this.abort?.abort();
    this.events.onStatus?.('ended', end);
    this.finish(end);
  }

  private retry(n: number): void {
    if (this.done) return;
    this.reconnects++;
    const wait = (this.opts.backoffMs ?? ((k) => Math.min(5_000, 200 * 2 ** k)))(n);
    this.timer = setTimeout(() => void this.attempt(n + 1), wait);
  }

  private async attempt(n: number): Promise<void> {
    if (this.done) return;
    this.events.onStatus?.('connecting');
    // Once joined, always resume: even from seq 0, so what is logged while the tail is away is not skipped.
    const resume = this.everLive || this.opts.since !== undefined;
    const params: Record<string, string> = { ...this.opts.params };
    if (resume) {
      params.since = String(this.lastSeq);
      if (this.epoch) params.epoch = this.epoch;
    }
    const abort = (this.abort = new AbortController());
    let res: Response;
    try {
      res = await (this.opts.fetch ?? fetch)(linkRoute(this.link, 'events', params), {
        headers: { accept: 'text/event-stream', ...this.opts.headers },
        signal: abort.signal,
      });
    } catch (err) {
      if (this.done) return;
      if (this.opts.failFast && !this.everLive) return this.end({ kind: 'unreachable', cause: causeOf(err) });
      return this.retry(n);
    }
    if (!res.ok || !res.body) {
      const body = (await res.json().catch(() => ({}))) as { error?: string; message?: string };
      const error = new AmsHttpError(res.status, body.error ?? 'http_error', body.message ?? res.statusText);
      if (RETRY_STATUS.has(res.status)) return this.retry(n);
      return this.end({ kind: 'refused', error });
    }
    const closed = await this.read(res.body, abort, resume, () => (n = 0));
    if (this.done) return;
    if (closed && !RETRY_BY_CODE.get(closed.code)) return this.end({ kind: 'closed', ...closed });
    this.retry(n);
  }

  /** Reads one response until it ends; returns the `event: close` it ended with, if any. */
  private async read(body: ReadableStream<Uint8Array>, abort: AbortController, resume: boolean, onLive: () => void): Promise<{ code: number; reason: string } | undefined> {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    const silenceMs = this.opts.silenceMs ?? 45_000;
    let silence: ReturnType<typeof setTimeout> | undefined;
    const watch = () => {
      clearTimeout(silence);
      silence = setTimeout(() => abort.abort(), silenceMs);
    };
    let buffered = '';
    try {
      watch();
      for (;;) {
        const { done, value } = await reader.read();
        if (done || this.done) return undefined;
        watch();
        const { events, rest } = takeSseEvents(buffered + decoder.decode(value, { stream: true }));
        buffered = rest;
        for (const ev of events) {
          const frame = JSON.parse(ev.data) as ServerFrame & { code?: number; reason?: string };
          if (ev.event === 'close') return { code: Number(frame.code), reason: String(frame.reason) };
          if (frame.type === 'joined') {
            this.epoch = frame.epoch;
            if (!resume) this.lastSeq = frame.seq;
            this.everLive = true;
            onLive();
            this.events.onStatus?.('live');
          } else if (ev.id !== undefined) {
            if (ev.id <= this.lastSeq) continue;
            this.lastSeq = ev.id;
          }
          this.events.onFrame?.(frame);
        }
      }
    } catch {
      // A dropped or silent connection: the caller asks again from lastSeq.
      return undefined;
    } finally {
      clearTimeout(silence);
      void reader.cancel().catch(() => {});
    }
  }
}
