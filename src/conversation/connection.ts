/**
 * The one contract every live subscriber meets — a WebSocket, an SSE tail or
 * an MCP membership — so `Conversation` serves all three with one loop.
 *
 * - Ordering. A connection receives `joined` first, then any replay (an
 *   `x_truncated` notice before the frames it covers), then live frames, in
 *   seq order, each exactly once; nothing slips between replay and live,
 *   because admission runs in one synchronous step.
 * - `send(text, frame?)` is called only by the conversation, synchronously
 *   inside the event that logged the frame. It must not throw, block or call
 *   back into the conversation; it may drop the text when the transport is
 *   already going (its end arrives through `close` or the transport's own
 *   close event). `text` is already encoded for the connection's wire format;
 *   `frame` is the logged frame itself when `text` carries one (never a copy:
 *   it must not be mutated), so a connection that keeps frames need not parse.
 * - `close(reason)` is called at most once by the conversation, after the
 *   connection has been detached (takeover, rotation, deletion, or a frame the
 *   broker refused); no `send` follows it. A connection that ends on its own
 *   (socket closed, SSE reader gone, MCP member left or idle) is removed with
 *   `Conversation.leave` and is not closed by the conversation.
 * - Hibernation. What must outlive the process is the connection's own
 *   business: a WebSocket keeps it in its attachment, an MCP membership in its
 *   row; both are handed back with `Conversation.restore` when the object
 *   wakes. An SSE tail holds the object awake and ends with the process.
 */
import type { CloseReason } from '../protocol/close-codes';
import type { LoggedFrame, Scope } from '../protocol/frames';
import type { Member } from './audience';

export interface Connection {
  readonly member: Member;
  readonly accountId: string | null;
  /** The stream this connection holds (write scope), or null for observers. */
  readonly streamId: string | null;
  readonly scope: Scope;
  /** The link generation it was admitted under: rotation closes older ones. */
  readonly generation: number;
  /** When the magic link it was admitted with expires (unix seconds; undefined: never); it is closed then with 4001 (decision 0104). */
  readonly expiresAt?: number;
  /** Whether the connection asked for `x_receipt` frames. */
  readonly receipts: boolean;
  send(text: string, frame?: LoggedFrame): void;
  close(reason: CloseReason): void;
}
