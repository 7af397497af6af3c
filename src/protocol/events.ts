/**
 * Lifecycle events: every name and its fields, in one place (decision 0148).
 * An event is one JSON log line and one Analytics Engine data point. Fields are
 * ids, counts, codes and path kinds — never token text, metadata values,
 * instructions, credentials, link tokens, resume keys or client addresses; an
 * id that is itself a capability (an MCP session id) is logged only as a keyed
 * hash (`hiddenId`). Pure: no runtime import, so every layer can emit.
 */
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';

/** How a connection reached the broker. */
export type PathKind = 'ws' | 'sse' | 'mcp' | 'http' | 'webhook';

type Id = string;

/** The fields of each event. Optional ones are left out when unknown, never sent empty. */
export interface EventFields {
  'account.created': { account: Id; ns: string };
  'account.deleted': { account: Id; ns: string; conversations: number };
  'credential.rotated': { account: Id; ns: string; generation: number; closed: number };
  'conversation.minted': { ns: string; alias: string; conversation: Id; account: Id };
  'conversation.updated': { ns: string; alias: string; conversation: Id; change: 'links_rotated' };
  'conversation.deleted': { ns: string; alias: string; conversation: Id };
  'connection.accepted': { ns: string; alias: string; path: PathKind; scope: 'write' | 'read'; account?: Id };
  'connection.refused': { ns: string; alias: string; path: PathKind; code: number | string; status?: number };
  'stream.joined': { ns: string; alias: string; path: PathKind; stream: Id; account: Id };
  'stream.left': { ns: string; alias: string; path: PathKind; stream: Id; account: Id; tokens: number; code?: number };
  'emit.rate_limited': { ns: string; alias: string; path: PathKind; stream: Id; account: Id };
  'consumer.shed': { ns: string; alias: string; path: PathKind };
  'replay.paused': { ns: string; alias: string; path: PathKind };
  'tokens.emitted': { ns: string; alias: string; path: PathKind; stream: Id; account: Id; tokens: number };
  'mcp.session_opened': { session: Id; account?: Id };
  'mcp.session_collected': { session: Id; reason: 'idle' | 'deleted' | 'credential_revoked' };
  'webhook.delivered': { ns: string; alias: string; webhook: Id; status: number };
  'webhook.failed': { ns: string; alias: string; webhook: Id; status?: number };
  'webhook.disabled': { ns: string; alias: string; webhook: Id };
  'request.refused': { route: string; status: number; error: string };
  'request.failed': { request_id: string; route: string };
}

export type EventName = keyof EventFields;

/** What each event means: the list PROTOCOL.md §Operations shows (a test keeps the two in step). */
export const EVENTS: Record<EventName, string> = {
  'account.created': 'an account was created (HTTP or an anonymous MCP account)',
  'account.deleted': 'an account was deleted with its conversations',
  'credential.rotated': 'an account credential was replaced; `closed` connections of the old one were ended',
  'conversation.minted': 'a conversation was minted',
  'conversation.updated': 'a conversation changed: its links were rotated',
  'conversation.deleted': 'a conversation was deleted',
  'connection.accepted': 'a WebSocket, SSE tail or MCP membership was admitted',
  'connection.refused': 'a connection was refused: a WebSocket or SSE tail with its close code (or HTTP status), an MCP join with its error code',
  'stream.joined': 'a writer took its stream',
  'stream.left': 'a writer released its stream; `tokens` it emitted on that connection',
  'emit.rate_limited': 'a writer emitted over its rate limit',
  'consumer.shed': 'an SSE tail was closed for reading too slowly (4908)',
  'replay.paused': 'a replay reached its budget and closed the connection (4906)',
  'tokens.emitted': 'an HTTP or MCP emit logged `tokens` tokens',
  'mcp.session_opened': 'an MCP session was initialized',
  'mcp.session_collected': 'an MCP session ended: idle, deleted by its client, or its credential revoked',
  'webhook.delivered': 'a webhook delivery was accepted by its receiver',
  'webhook.failed': 'a webhook delivery failed',
  'webhook.disabled': 'a webhook was disabled after repeated failures',
  'request.refused': 'any other HTTP request answered with a 4xx, thrown or built: the route pattern and the error code',
  'request.failed': 'an unexpected error; `request_id` is also in the error log line',
};

type Value = string | number | boolean;

/** One log line: `{"ams_event": name, "at": ISO time, ...fields}`. */
export function eventLine<N extends EventName>(name: N, fields: EventFields[N], at = new Date()): string {
  return JSON.stringify({ ams_event: name, at: at.toISOString(), ...(fields as Record<string, Value | undefined>) });
}

/** What Analytics Engine takes: blobs (strings), doubles (numbers), one index (the sampling key). */
export interface DataPoint {
  blobs: string[];
  doubles: number[];
  indexes: string[];
}

/**
 * The data point of an event. Fixed columns, so the dashboard's SQL can name them:
 * blob1 event, blob2 namespace, blob3 path kind, blob4 code or error, blob5 account;
 * double1 = 1 (the event), double2 tokens (0 unless the event counts them);
 * index1 the namespace (or the event name when there is none).
 */
export function dataPointOf<N extends EventName>(name: N, fields: EventFields[N]): DataPoint {
  const f = fields as Record<string, Value | undefined>;
  const text = (v: Value | undefined) => (v === undefined ? '' : String(v));
  const ns = text(f.ns);
  return {
    blobs: [name, ns, text(f.path), text(f.code ?? f.error ?? f.reason ?? f.status), text(f.account)],
    doubles: [1, typeof f.tokens === 'number' ? f.tokens : 0],
    indexes: [ns || name],
  };
}

/**
 * A capability-bearing id (an MCP session id) as it may appear in a log: the
 * first 16 hex digits of HMAC-SHA-256 under `key` — stable, so one session's
 * lines can be followed, and worthless for reaching the session.
 */
export function hiddenId(key: string, id: string): string {
  const enc = new TextEncoder();
  const tag = hmac(sha256, enc.encode(key), enc.encode(`ams-event-id\n${id}`));
  return [...tag.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join('');
}
