/** What a conversation is asked to do (join, emit) and what it answers. */
import type { CloseReason } from '../protocol/close-codes';
import type { JsonObject, Scope } from '../protocol/frames';
import type { Identity } from '../protocol/identity';
import type { Connection } from './connection';
import type { Cursor, ResumePlan } from './resume';
import type { StreamRecord } from '../protocol/records';

export interface Ids {
  streamId(): string;
  /** A default stream name: `{base}-{4 hex}` with a base, else `stream-XXXXXX`. */
  streamName(base?: string): string;
}

export interface JoinRequest {
  accountId: string | null;
  scope: Scope;
  generation: number;
  streamName?: string;
  streamMetadata?: JsonObject;
  /** Who the connection declares itself to be; undefined keeps the stream's (an MCP membership rejoining). */
  identity?: Identity;
  /** What a new stream's default name is made from (decision 0156). */
  nameBase?: string;
  selfSubscribe: boolean;
  /** The stream names it chose to hear (decisions/0130); absent: every stream. */
  streams?: string[];
  chain: boolean;
  cursor: Cursor;
}

export type JoinOutcome =
  | { ok: true; stream: StreamRecord | null; resumed: boolean; takeover: Connection | null; plan: ResumePlan; retire?: StreamRecord }
  | { ok: false; reason: CloseReason };

export type EmitOutcome =
  | { ok: true; seq: number; chain: string; duplicate: boolean }
  | { ok: false; reason: 'rate_limited' | 'malformed_frame' | 'read_only' };

export interface EmitInput {
  data: string;
  id?: string;
  ref?: number;
  /** The last token of an utterance; only `true` is logged. */
  end?: boolean;
}
