/**
 * When an `ams_recv` answer moves the read position (decisions/0120). The
 * conversation only proposes the move; the session commits it once the
 * answer is in the session's event store (so a cut stream can still be
 * resumed with `Last-Event-ID`) and only while the request is live: not
 * cancelled (`notifications/cancelled` aborts the handler's signal, and the
 * SDK then sends nothing) and its HTTP response not known to be gone (the
 * request's signal aborted, or its body cancelled). A wait its client gave up
 * on commits nothing, so the next call reads the same messages; an answer
 * stored after its client left commits when a resumption replays it.
 */
import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/sdk/types.js';
import type { ReadProposal } from '../conversation/members/rpc';
import type { JoinedState } from './session';

/** ams_recv's answer: `value` is what the client is shown; `proposal` is committed once it is safe on its way. */
export class ReadAnswer {
  constructor(readonly value: object, readonly j: JoinedState, readonly proposal: ReadProposal) {}
}

/** One HTTP response carrying answers: gone once its client is known to have left. */
interface Wire {
  gone: boolean;
}

/** Stranded answers remembered per session. */
const STRANDED_KEPT = 16;

export class ReadCommits {
  /** The POST response each in-flight JSON-RPC request will be answered on. */
  private readonly wires = new Map<RequestId, Wire>();
  private readonly held = new Map<RequestId, { answer: ReadAnswer; signal: AbortSignal }>();
  /** Request streams a client resumed (GET with Last-Event-ID) and still holds: answers stored for them reach it. */
  private readonly resumed = new Set<string>();
  /** Answers stored while their client was gone, by event id: a resumption that replays one commits it then. */
  private readonly stranded = new Map<string, ReadAnswer>();

  constructor(private readonly commit: (answer: ReadAnswer) => Promise<void>) {}

  /** Serves one POST through `serve`, noting which requests it carries and whether its response still has a client. */
  async post(request: Request, serve: (req: Request, parsedBody?: unknown) => Promise<Response>): Promise<Response> {
    const text = await request.text();
    const again = new Request(request.url, { method: 'POST', headers: request.headers, body: text });
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return serve(again);
    }
    const ids = (Array.isArray(parsed) ? parsed : [parsed])
      .filter((m): m is { id: RequestId; method: string } => typeof m === 'object' && m !== null && 'method' in m && 'id' in m)
      .map((m) => m.id);
    const wire: Wire = { gone: false };
    for (const id of ids) this.wires.set(id, wire);
    const forget = () => {
      for (const id of ids) if (this.wires.get(id) === wire) this.wires.delete(id);
    };
    request.signal.addEventListener('abort', () => {
      wire.gone = true;
    });
    const res = await serve(again, parsed);
    if (!res.body) {
      forget();
      return res;
    }
    const body = watchEnd(res.body, (cancelled) => {
      if (cancelled) wire.gone = true;
      forget();
    });
    return new Response(body, { status: res.status, headers: res.headers });
  }

  /** A tool call returned `answer` for `requestId`: commit it when its response is stored. */
  hold(requestId: RequestId, answer: ReadAnswer, signal: AbortSignal): void {
    if (signal.aborted) return;
    this.held.set(requestId, { answer, signal });
    // A cancelled request is never answered (the SDK drops its response): nothing to wait for.
    signal.addEventListener('abort', () => this.held.delete(requestId));
  }

  /** A GET resumed request stream `streamId` (true) or that resumed stream ended (false). */
  resuming(streamId: string, on: boolean): void {
    if (on) this.resumed.add(streamId);
    else this.resumed.delete(streamId);
  }

  /** Called after each message is stored for `streamId` as `eventId`: a held answer's position is committed now, before its bytes are written. */
  async stored(streamId: string, eventId: string, message: JSONRPCMessage): Promise<void> {
    const id = 'method' in message ? undefined : (message as { id?: RequestId }).id;
    const h = id === undefined ? undefined : this.held.get(id);
    if (id === undefined || !h) return;
    this.held.delete(id);
    const wire = this.wires.get(id);
    const live = !h.signal.aborted && ((wire !== undefined && !wire.gone) || this.resumed.has(streamId));
    if (live) await this.settle(h.answer);
    else {
      this.stranded.set(eventId, h.answer);
      // Only the latest few wait for a resumption; an older one is read again by the next call.
      for (const old of this.stranded.keys()) if (this.stranded.size > STRANDED_KEPT) this.stranded.delete(old);
    }
  }

  /** A resumption is about to send `eventId` again: an answer stranded there is delivered now, so it commits. */
  async replaying(eventId: string): Promise<void> {
    const a = this.stranded.get(eventId);
    if (!a) return;
    this.stranded.delete(eventId);
    await this.settle(a);
  }

  private async settle(a: ReadAnswer): Promise<void> {
    await this.commit(a).catch((err: unknown) => console.error('AMS MCP session: committing a read failed', err));
  }
}

/** Passes a response body through, calling `onEnd` once when it finishes (`false`) or its reader goes away (`true`). */
export function watchEnd(body: ReadableStream<Uint8Array>, onEnd: (cancelled: boolean) => void): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let ended = false;
  const end = (cancelled: boolean) => {
    if (!ended) {
      ended = true;
      onEnd(cancelled);
    }
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          end(false);
          controller.close();
        } else controller.enqueue(value);
      } catch (err) {
        end(true);
        controller.error(err);
      }
    },
    cancel(reason) {
      end(true);
      return reader.cancel(reason);
    },
  });
}
