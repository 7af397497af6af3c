/**
 * The wire frames. Client frames are zod schemas (the single source of truth
 * for what the broker accepts; their types are derived); server frames are
 * plain types because the broker only ever builds them.
 */
import { z } from 'zod';
import { LIMITS } from './limits';
import type { CloseReason } from './close-codes';
import type { Identity } from './identity';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

const tokenFrame = z.object({
  type: z.literal('token'),
  data: z.string(),
  id: z.string().min(1).max(LIMITS.tokenIdChars).optional(),
  ref: z.number().int().positive().optional(),
  /** The last token of an utterance [ext]: anything but a boolean is a malformed frame. */
  end: z.boolean().optional(),
});
const setMetadataFrame = z.object({
  type: z.literal('set_metadata'),
  metadata: z.record(z.string(), z.unknown()),
});
const pingFrame = z.object({ type: z.literal('ping') });

export const CLIENT_FRAME_SCHEMAS = {
  token: tokenFrame,
  set_metadata: setMetadataFrame,
  ping: pingFrame,
} as const;

export type TokenFrameIn = z.infer<typeof tokenFrame>;
export type SetMetadataFrameIn = { type: 'set_metadata'; metadata: JsonObject };
export type PingFrameIn = z.infer<typeof pingFrame>;
export type ClientFrame = TokenFrameIn | SetMetadataFrameIn | PingFrameIn;

export type ParseResult = { ok: true; frame: ClientFrame } | { ok: false; reason: CloseReason };

/** Parses one client message into a typed frame or the close reason it earns. */
export function parseClientFrame(raw: string | ArrayBuffer): ParseResult {
  if (typeof raw !== 'string') return { ok: false, reason: 'malformed_frame' };
  if (raw.length > LIMITS.frameBytes) return { ok: false, reason: 'token_too_large' };
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return { ok: false, reason: 'malformed_frame' };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { ok: false, reason: 'malformed_frame' };
  const type = (value as { type?: unknown }).type;
  if (typeof type !== 'string') return { ok: false, reason: 'malformed_frame' };
  const schema = Object.hasOwn(CLIENT_FRAME_SCHEMAS, type) ? CLIENT_FRAME_SCHEMAS[type as keyof typeof CLIENT_FRAME_SCHEMAS] : undefined;
  if (!schema) return { ok: false, reason: 'unknown_frame_type' };
  const parsed = schema.safeParse(value);
  if (!parsed.success) return { ok: false, reason: 'malformed_frame' };
  const frame = parsed.data as ClientFrame;
  // The schema's copy of a record drops keys such as "__proto__"; metadata must travel exactly as sent.
  if (frame.type === 'set_metadata') frame.metadata = (value as { metadata: JsonObject }).metadata;
  if (frame.type === 'token') {
    if (exceedsUtf8Bytes(frame.data, LIMITS.tokenBytes)) return { ok: false, reason: 'token_too_large' };
    if (!frame.data.isWellFormed()) return { ok: false, reason: 'malformed_frame' };
  }
  return { ok: true, frame };
}

/** Whether a string's UTF-8 encoding exceeds `limit` bytes, counted without allocating. */
export function exceedsUtf8Bytes(s: string, limit: number): boolean {
  if (s.length * 3 <= limit) return false;
  if (s.length > limit) return true;
  return utf8Length(s) > limit;
}

/** UTF-8 byte length of a well-formed string (a lone surrogate counts as 3, as U+FFFD would). */
export function utf8Length(s: string): number {
  let bytes = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

export type Scope = 'write' | 'read';

export interface Peer {
  stream_id: string;
  stream_name: string;
  owner_account_id: string;
  metadata: JsonObject;
  /** Who holds the stream, as it declared itself [ext] (decision 0155). */
  identity: Identity;
}

export interface JoinedFrame {
  type: 'joined';
  conversation_id: string;
  stream_id: string | null;
  stream_name: string | null;
  metadata: JsonObject | null;
  self_subscribe: boolean;
  peers: Peer[];
  resumed: boolean;
  seq: number;
  epoch: string;
  scope: Scope;
  head_chain?: string;
  /** The broker's time of admission [ext]. */
  ts: string;
  /** The identity this connection holds its stream with [ext]; absent for observers. */
  identity?: Identity;
  /** The connection's subscription filter (decisions/0130), when it set one. */
  subscribed_streams?: string[];
}

/** A peer as a logged frame carries it: frames logged before identities existed have none (read them as `DEFAULT_IDENTITY`). */
type LoggedPeer = Omit<Peer, 'identity'> & { identity?: Identity };

export interface StreamJoinedFrame extends LoggedPeer {
  type: 'stream_joined';
  ts: string;
  seq: number;
}
export interface StreamLeftFrame {
  type: 'stream_left';
  stream_id: string;
  stream_name: string;
  owner_account_id: string;
  ts: string;
  seq: number;
}
export interface TokenFrame {
  type: 'token';
  stream_id: string;
  stream_name: string;
  owner_account_id: string;
  ts: string;
  data: string;
  seq: number;
  id?: string;
  ref?: number;
  /** The last token of an utterance [ext]; only `true` is ever logged. */
  end?: boolean;
}
export interface StreamMetadataFrame extends LoggedPeer {
  type: 'stream_metadata';
  ts: string;
  seq: number;
}

/**
 * The owner changed the conversation's instructions [ext]. The first logged
 * frame owned by no stream: every connection hears it, the owner's included
 * (its log row's owner is `NO_OWNER`, which no account id equals).
 */
export interface ConversationUpdatedFrame {
  type: 'x_conversation_updated';
  conversation_id: string;
  instructions: string;
  ts: string;
  seq: number;
}

/** The owner of a logged frame that belongs to no stream: no account has this id, so everyone hears it. */
export const NO_OWNER = '';

/** The logged frames of a stream (each names its stream and its owner). */
export type StreamFrame = StreamJoinedFrame | StreamLeftFrame | TokenFrame | StreamMetadataFrame;

/** The frames that get a `seq` and enter the log (and the hash chain). */
export type LoggedFrame = StreamFrame | ConversationUpdatedFrame;

/** The account whose connections do not hear a logged frame (unless they self-subscribe); `NO_OWNER` for a conversation's own frames. */
export function ownerOf(frame: LoggedFrame): string {
  return frame.type === 'x_conversation_updated' ? NO_OWNER : frame.owner_account_id;
}

/** The logged frame types, as a value (the page gets them from the broker: src/http/view.ts). */
export const LOGGED_FRAME_TYPES = ['token', 'stream_joined', 'stream_left', 'stream_metadata', 'x_conversation_updated'] as const satisfies readonly LoggedFrame['type'][];
const loggedTypesComplete: Exclude<LoggedFrame['type'], (typeof LOGGED_FRAME_TYPES)[number]> extends never ? true : false = true;
void loggedTypesComplete;

export interface ReceiptFrame {
  type: 'x_receipt';
  seq: number;
  ts: string;
  id?: string;
  chain?: string;
  duplicate?: boolean;
}
export interface TruncatedFrame {
  type: 'x_truncated';
  from_seq: number;
  to_seq: number;
  epoch: string;
  ts: string;
}
export interface PongFrame {
  type: 'pong';
}

export type ServerFrame = JoinedFrame | LoggedFrame | ReceiptFrame | TruncatedFrame | PongFrame;

export const PING_FRAME = '{"type":"ping"}';
export const PONG_FRAME = '{"type":"pong"}';
