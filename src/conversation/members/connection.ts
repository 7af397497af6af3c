/**
 * One attached MCP membership as the fan-out sees it: a `Connection` whose
 * state is its row. With history on, `ams_recv` reads the log; with history
 * off it keeps what the fan-out hands it — the frame objects themselves, not
 * their text — in a bounded buffer.
 */
import type { CloseReason } from '../../protocol/close-codes';
import type { JsonObject, LoggedFrame } from '../../protocol/frames';
import { Wire, type Member } from '../audience';
import type { Connection } from '../connection';
import type { MemberRow } from './rows';
import { LIMITS } from '../../protocol/limits';
import { utf8Length } from '../wire';
import { filterOf } from '../../protocol/subscription';

/** The row's filter as a list (null: every stream). */
export function subscribedStreams(row: MemberRow): string[] | null {
  return row.subscribe_streams === null || row.subscribe_streams === undefined ? null : JSON.parse(row.subscribe_streams) as string[];
}

/** Frames kept in memory per membership when the conversation keeps no history. */
const BUFFER_CAP = 1_000;

export interface MemberEvents {
  /** The conversation closed it (takeover, rotation, deletion). */
  closed(c: McpConnection, reason: CloseReason): void;
  /** It was handed something; `frame` when a logged frame it hears. */
  heard(c: McpConnection, frame: LoggedFrame | undefined): void;
}

export class McpConnection implements Connection {
  /** Replaced (through `Conversation.refilter`) when `ams_join` changes the subscription filter in place. */
  member: Member;
  readonly receipts = false;
  endedBy: CloseReason | undefined;
  /** Only when history is off: what the fan-out delivered, complete from `bufferFrom`. */
  readonly buffer: { seq: number; frame: JsonObject; bytes: number }[] | null;
  bufferFrom: number;
  /** What the buffer holds, in UTF-8 bytes of the frames' JSON. */
  private bufferBytes = 0;
  /** The seq of this member's last `ams_send {end: false}` piece while its utterance is open: the next send continues it. */
  openPiece: number | undefined;

  constructor(readonly row: MemberRow, head: number, keepBuffer: boolean, private readonly events: MemberEvents) {
    this.member = McpConnection.memberOf(this, row);
    this.buffer = keepBuffer ? [] : null;
    this.bufferFrom = head + 1;
  }
  /** Its place in the fan-out, as its row says: identity, self-subscription, filter. */
  static memberOf(sink: McpConnection, row: MemberRow): Member {
    return { sink, accountId: row.account_id, selfSubscribe: row.self_subscribe === 1, wire: Wire.Json, streams: filterOf(subscribedStreams(row)) };
  }
  get accountId() { return this.row.account_id; }
  get streamId() { return this.row.stream_id; }
  get scope() { return this.row.scope; }
  get generation() { return this.row.generation; }
  get expiresAt() { return this.row.expires_at ?? undefined; }

  send(text: string, frame?: LoggedFrame): void {
    if (frame && this.buffer) {
      const bytes = utf8Length(text);
      this.buffer.push({ seq: frame.seq, frame: frame as unknown as JsonObject, bytes });
      this.bufferBytes += bytes;
      // Past either cap the oldest frames go; the next ams_recv reports them as x_truncated (decisions/0102).
      while (this.buffer.length > 1 && (this.buffer.length > BUFFER_CAP || this.bufferBytes > LIMITS.bufferedBytesPerConnection)) {
        const dropped = this.buffer.shift()!;
        this.bufferBytes -= dropped.bytes;
        this.bufferFrom = dropped.seq + 1;
      }
    }
    this.events.heard(this, frame);
  }

  close(reason: CloseReason): void {
    this.endedBy = reason;
    this.events.closed(this, reason);
  }
}
