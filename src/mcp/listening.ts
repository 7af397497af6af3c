/**
 * The GET stream of an MCP session. While the client holds it, the session is
 * registered with the conversation (again every `mcpListenRenewMs`, which
 * keeps the membership present), the conversation rings its doorbell after
 * frames, and the session pulls what it has not told yet and pushes it as
 * notifications. Without one, tool responses carry the news (`rideAlong`).
 */
import type { JSONRPCMessage, ServerNotification } from '@modelcontextprotocol/sdk/types.js';
import { LIMITS } from '../protocol/limits';
import { errorBody } from '../protocol/errors';
import { notificationsFor, type AmsNotification } from './notifications';
import { CHANNEL_METHOD, channelStep, freshChannel, pullFrom } from './channel';
import type { Doorbell, Outcome, Received } from '../conversation/members/rpc';
import type { JoinedState, McpSession, Notify } from './session';
import { watchEnd } from './read-commits';

export class Listening {
  /** The GET stream now held (0: none); each new GET gets the next number. */
  private getOpen = 0;
  private getCount = 0;
  /** The registration of the GET stream now held: rings carrying another tag are for a stream that is gone. */
  private listenTag: string | null = null;
  private renewTimer: ReturnType<typeof setInterval> | undefined;
  /** One pull at a time; a doorbell during a pull asks for one more. */
  private pulling = false;
  private pullAgain = false;
  private pullFailures = 0;
  /** Reads again when a held utterance closes by the quiet gap (no frame comes to ring for it). */
  private settleTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly session: McpSession, private readonly listenerId: string) {}

  /** Whether the client holds the GET stream now (an idle session that listens is not collected). */
  get holdsStream(): boolean {
    return this.getOpen !== 0;
  }

  /**
   * Serves a GET. With a `Last-Event-ID` the session kept, it resumes that
   * stream: a cut request stream is replayed beside the GET stream, which
   * stays; the GET stream itself is replayed and replaces its old
   * registration. Otherwise it opens the GET stream (closing one a client
   * dropped unnoticed) and registers it with the conversation. Either starts
   * at once (`firstBytes`), so a client never waits on a silent stream.
   */
  async open(request: Request): Promise<Response> {
    const transport = this.session.transport;
    const last = request.headers.get('last-event-id');
    const resumes = last === null ? undefined : this.session.events.streamOf(last);
    if (resumes !== undefined && resumes !== GET_STREAM) return this.resumeRequestStream(request, resumes);
    let primed: string | undefined;
    if (resumes === undefined) {
      // Nothing kept to resume from (never issued, or past the bounds): a fresh stream.
      if (last !== null) request = withoutLastEventId(request);
      // A client reconnecting its GET must not get 409 because the old stream has not noticed it is dead.
      transport.closeStandaloneSSEStream();
      // Stored before the stream is registered, so everything sent on it comes after this id.
      if (primes(request, this.session.state)) primed = await this.session.events.storeEvent(GET_STREAM, {} as JSONRPCMessage);
    }
    const res = await transport.handleRequest(request);
    if (res.status !== 200 || !res.body) return res;
    const n = ++this.getCount;
    this.getOpen = n;
    this.listenTag = crypto.randomUUID();
    clearInterval(this.renewTimer);
    this.renewTimer = setInterval(() => void this.listen(), LIMITS.mcpListenRenewMs);
    const body = watchEnd(res.body, () => {
      if (this.getOpen === n) this.stop(true);
    });
    void this.listen();
    return new Response(withFirst(firstBytes(primed, resumes !== undefined), body), { status: res.status, headers: res.headers });
  }

  /** A GET resuming a cut request stream: replays what it carried (its answer, if one came) and leaves the GET stream alone. */
  private async resumeRequestStream(request: Request, streamId: string): Promise<Response> {
    const res = await this.session.transport.handleRequest(request);
    if (res.status !== 200 || !res.body) return res;
    this.session.commits.resuming(streamId, true);
    const body = watchEnd(res.body, () => this.session.commits.resuming(streamId, false));
    return new Response(withFirst(firstBytes(undefined, true), body), { status: res.status, headers: res.headers });
  }

  /** The GET stream is gone: no more renewals, and (if `tell`) the conversation stops ringing. */
  stop(tell: boolean): void {
    const tag = this.listenTag;
    this.getOpen = 0;
    this.listenTag = null;
    clearInterval(this.renewTimer);
    this.renewTimer = undefined;
    clearTimeout(this.settleTimer);
    this.settleTimer = undefined;
    const j = this.session.state.joined;
    if (tell && j && tag) {
      this.session.rpc(j).mcpUnlisten(j.ref.member_id, tag).catch((err: unknown) => console.error('AMS MCP session: unlisten failed', err));
    }
  }

  /** While a GET stream is open: register it with the conversation, then catch up. */
  async listen(retry = true): Promise<void> {
    const j = this.session.state.joined;
    const tag = this.listenTag;
    if (!j || !tag || this.getOpen === 0) return;
    let out: Outcome<{ head_seq: number }>;
    try {
      out = await this.session.rpc(j).mcpListen(j.ref, { object: this.listenerId, tag });
    } catch (err) {
      console.error('AMS MCP session: registering the GET stream failed', err);
      // Once more shortly (a conversation object restarting fails calls in flight); else at the next renewal.
      if (retry) setTimeout(() => void this.listen(false), 1_000);
      return;
    }
    if (out.ok) this.pull();
    else if (out.ended) await this.session.ended(j, out.error, out.message ?? errorBody(out.error).message);
  }

  /** The conversation's doorbell: answers at once whether this session still listens for that membership. */
  rang(bell: Doorbell): boolean {
    const j = this.session.state.joined;
    if (this.getOpen === 0 || bell.tag !== this.listenTag || !j || j.ref.member_id !== bell.member_id) return false;
    if (bell.ended || bell.head > this.session.state.notified) this.pull();
    return true;
  }

  /** Tells what arrived since the last notification, on the response of the tool call at hand. */
  async rideAlong(notify: Notify): Promise<void> {
    const j = this.session.state.joined!;
    const out = await this.session.rpc(j).mcpRecv(j.ref, { since: this.session.state.notified, wait_ms: 0, max: LIMITS.mcpRecvDefault, advance: false });
    if (out.ok) await this.deliver(j, out.value, notify);
  }

  /** Sends on the GET stream (dropped by the SDK when none is open). */
  push(n: AmsNotification): Promise<void> {
    return this.session.server.notification(n as unknown as ServerNotification);
  }

  private async deliver(j: JoinedState, r: Received, notify: Notify): Promise<void> {
    const state = this.session.state;
    if (state.joined !== j) return;
    const { list, notified } = notificationsFor(r, state.notified);
    state.notified = notified;
    for (const n of list) await notify(n);
    if (list.length > 0) await this.session.save();
  }

  /** Reads past `notified` (a short call, no wait) and pushes it on the GET stream; one pull at a time. */
  private pull(): void {
    if (this.pulling) {
      this.pullAgain = true;
      return;
    }
    this.pulling = true;
    void (async () => {
      try {
        do {
          this.pullAgain = false;
          await this.pullOnce();
        } while (this.pullAgain && this.getOpen !== 0);
      } finally {
        this.pulling = false;
      }
    })();
  }

  private async pullOnce(): Promise<void> {
    const j = this.session.state.joined;
    if (!j || this.getOpen === 0) return;
    const state = this.session.state;
    let out: Outcome<Received>;
    try {
      out = await this.session.rpc(j).mcpRecv(j.ref, { since: pullFrom(state.notified, state.channel), wait_ms: 0, max: PULL_MAX, advance: false });
    } catch (err) {
      console.error('AMS MCP session: pulling notifications failed', err);
      // A few quick retries; after that the next doorbell or renewal catches up.
      if (++this.pullFailures <= 3) setTimeout(() => this.pull(), 500 * 2 ** this.pullFailures);
      return;
    }
    this.pullFailures = 0;
    if (out.ok) {
      // The channel push first: it is what wakes an agent, and the two readers' cursors are independent,
      // so a finished utterance is not queued behind the notifications of each of its tokens.
      await this.tellChannel(j, out.value).catch((err: unknown) => console.error('AMS MCP session: channel push failed', err));
      await this.deliver(j, out.value, (x) => this.push(x)).catch(() => undefined);
      if (out.value.next_since < out.value.head_seq && this.session.state.joined === j) this.pullAgain = true;
    } else if (out.ended) {
      await this.session.ended(j, out.error, out.message ?? errorBody(out.error).message);
    }
  }

  /** One `notifications/claude/channel` per utterance completed in this pull; a timer for one the quiet gap will close. */
  private async tellChannel(j: JoinedState, r: Received): Promise<void> {
    const state = this.session.state;
    if (state.joined !== j) return;
    // A session stored before the push existed starts its reader where its notifications stand.
    const channel = (state.channel ??= freshChannel('all', state.notified));
    const reachedHead = r.next_since >= r.head_seq;
    const step = channelStep(channel, r, {
      conversation: j.alias, stream_id: j.stream_id, stream_name: j.stream_name, gap_ms: j.gap_ms ?? LIMITS.utteranceGapDefaultMs, max: PULL_MAX,
    }, reachedHead ? Date.now() : undefined);
    for (const p of step.pushes) await this.session.server.notification({ method: CHANNEL_METHOD, params: p } as unknown as ServerNotification);
    if (step.changed) await this.session.save();
    clearTimeout(this.settleTimer);
    this.settleTimer = undefined;
    if (step.settles_at !== undefined && this.getOpen !== 0) {
      // Time stamps are the conversation's clock: never spin when this one runs a little behind.
      this.settleTimer = setTimeout(() => this.pull(), Math.max(step.settles_at - Date.now() + SETTLE_SLACK_MS, SETTLE_MIN_MS));
    }
  }
}

/**
 * Frames one pull asks for: as many as `ams_recv` may return, so an utterance
 * that arrived in a burst is read (and pushed) in one round trip rather than
 * in pieces of `mcpRecvDefault`; a page stays within `pageBytes` either way.
 */
const PULL_MAX = LIMITS.mcpRecvMax;

/** The SDK's name for the GET stream's events (its `_standaloneSseStreamId`, SDK 1.32.2). */
const GET_STREAM = '_GET_stream';
const encoder = new TextEncoder();

/** Whether the client speaks 2025-11-25 or later: older clients cannot take an event with empty data. */
function primes(request: Request, state: { init: unknown }): boolean {
  const stored = (state.init as { params?: { protocolVersion?: unknown } } | undefined)?.params?.protocolVersion;
  const version = request.headers.get('mcp-protocol-version') ?? (typeof stored === 'string' ? stored : '');
  return version >= '2025-11-25';
}

/**
 * What a GET stream starts with: a priming event (its id, the retry field,
 * empty data) for a fresh stream of a 2025-11-25 client; the retry field
 * alone before a replay (its events carry their own ids); else a comment.
 */
function firstBytes(primed: string | undefined, replay: boolean): Uint8Array {
  if (primed !== undefined) return encoder.encode(`id: ${primed}\nretry: ${LIMITS.mcpSseRetryMs}\ndata: \n\n`);
  return encoder.encode(replay ? `retry: ${LIMITS.mcpSseRetryMs}\n\n` : ': open\n\n');
}

/** `body`, after `first`. */
function withFirst(first: Uint8Array, body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let sent = false;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!sent) {
        sent = true;
        controller.enqueue(first);
        return;
      }
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
}

function withoutLastEventId(request: Request): Request {
  const headers = new Headers(request.headers);
  headers.delete('last-event-id');
  return new Request(request.url, { method: request.method, headers });
}

/** Added to a settle timer, so the read that follows finds the gap already passed. */
const SETTLE_SLACK_MS = 25;
/** The shortest wait before such a read: a clock behind the conversation's costs a few reads, not a spin. */
const SETTLE_MIN_MS = 100;
