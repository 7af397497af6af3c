/**
 * Webhooks on the wire (decisions 0135–0139): what a registration may ask
 * for, which URLs the broker will call, the body of one delivery, and how a
 * receiver's answer becomes a reply. Pure: no clock, no I/O, shared by the
 * HTTP routes, the conversation and the webhook objects.
 */
import type { JsonObject } from './frames';
import { LIMITS } from './limits';
import { checkSubscription } from './subscription';
import { isJsonObject, STREAM_NAME_RE } from './validate';

/** What a webhook may be told: completed utterances, and (only if asked) joins and leaves. */
export const WEBHOOK_EVENTS = ['utterance', 'joined', 'left'] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/** `all`: every utterance of the others; `mentions`: only those that contain `@<its stream name>`. */
export const WEBHOOK_NOTIFY = ['all', 'mentions'] as const;
export type WebhookNotify = (typeof WEBHOOK_NOTIFY)[number];

const FIELDS = new Set(['url', 'stream_name', 'subscribe', 'notify', 'events']);

export interface WebhookRequest {
  url: string;
  stream_name?: string;
  /** Only utterances of these streams (the subscription filter of decision 0130); absent: every stream. */
  subscribe?: string[];
  notify: WebhookNotify;
  events: WebhookEvent[];
}

/** Why a registration body was refused: an error code of the table and the sentence that says what is wrong. */
export type WebhookRefusal = {
  error: 'invalid_webhook_url' | 'invalid_webhook_events' | 'invalid_webhook_notify' | 'invalid_stream_name' | 'invalid_subscription' | 'unknown_webhook_field';
  message: string;
};

/**
 * A registration body, checked field by field. `development` lets `http:`
 * reach `localhost` (a local receiver); nothing else relaxes.
 */
export function parseWebhookRequest(body: JsonObject, development: boolean): WebhookRequest | WebhookRefusal {
  for (const key of Object.keys(body)) {
    if (!FIELDS.has(key)) return { error: 'unknown_webhook_field', message: `"${key}" is not a registration field (url, stream_name, subscribe, notify, events).` };
  }
  const url = checkWebhookUrl(body.url, development);
  if (typeof url !== 'string') return url;
  const name = body.stream_name;
  if (name !== undefined && (typeof name !== 'string' || !STREAM_NAME_RE.test(name))) return { error: 'invalid_stream_name', message: 'stream_name must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$.' };
  let subscribe: string[] | undefined;
  if (body.subscribe !== undefined) {
    const checked = Array.isArray(body.subscribe) ? checkSubscription(body.subscribe) : { ok: false as const, message: 'subscribe must be a list of stream names.' };
    if (!checked.ok) return { error: 'invalid_subscription', message: checked.message.replace('subscribe_streams', 'subscribe') };
    subscribe = checked.streams;
  }
  const notify = body.notify ?? 'all';
  if (typeof notify !== 'string' || !(WEBHOOK_NOTIFY as readonly string[]).includes(notify)) return { error: 'invalid_webhook_notify', message: 'notify must be "all" or "mentions".' };
  const events = body.events ?? ['utterance'];
  if (!Array.isArray(events) || events.length === 0 || events.some((e) => typeof e !== 'string' || !(WEBHOOK_EVENTS as readonly string[]).includes(e)) || new Set(events).size !== events.length) {
    return { error: 'invalid_webhook_events', message: 'events must be a non-empty list of distinct values from "utterance", "joined", "left".' };
  }
  return { url, ...(name !== undefined ? { stream_name: name } : {}), ...(subscribe ? { subscribe } : {}), notify: notify as WebhookNotify, events: events as WebhookEvent[] };
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/**
 * The URL a webhook is called at, or why not: `https:` with a host name (the
 * platform refuses fetches to bare IP addresses), no user or password in it,
 * at most `webhookUrlChars`; `http:` only to `localhost`, and only in development.
 */
export function checkWebhookUrl(value: unknown, development: boolean): string | WebhookRefusal {
  const refuse = (why: string): WebhookRefusal => ({ error: 'invalid_webhook_url', message: `url ${why}` });
  if (typeof value !== 'string') return refuse('is required: a string.');
  if (value.length > LIMITS.webhookUrlChars) return refuse(`is longer than ${LIMITS.webhookUrlChars} characters.`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return refuse('is not an absolute URL.');
  }
  if (url.username !== '' || url.password !== '') return refuse('must not hold credentials (user:password@); put a token in the path or query if the receiver needs one, and verify the signature.');
  const host = url.hostname;
  if (url.protocol === 'http:') {
    if (!development || host !== 'localhost') return refuse('must use https: (http: only to localhost on a development broker).');
  } else if (url.protocol !== 'https:') return refuse('must use https:.');
  if (IPV4.test(host) || host.startsWith('[')) return refuse('must name a host, not an IP address (the platform refuses fetches to bare IPs).');
  if (!host.includes('.') && host !== 'localhost') return refuse('must name a public host.');
  return url.toString();
}

/** One delivery's body: a completed utterance of another stream, or (if asked) a join or a leave. */
export interface WebhookMessage {
  type: WebhookEvent;
  webhook_id: string;
  conversation: { conversation_id: string; namespace: string; alias: string };
  speaker: { stream_id: string; stream_name: string; account_id: string; peer?: JsonObject };
  ts: string;
  /** utterance: the text as one string, the seqs of its first and last token, and whether it ended (false: cut at the held-frames bound, continued next). */
  text?: string;
  first_seq?: number;
  last_seq?: number;
  complete?: boolean;
  /** joined / left: the frame's seq. */
  seq?: number;
  /** Messages dropped from this webhook's backlog just before this one (its bound), when any were. */
  skipped?: number;
}

/** A receiver's 2xx answer as a reply: `text/plain` as it stands, or JSON `{"reply": "…"}`; null when it says nothing. */
export function replyOf(contentType: string | null, body: string): string | null {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'text/plain') return body.trim() === '' ? null : body;
  if (type !== 'application/json' && !type.endsWith('+json')) return null;
  try {
    const parsed: unknown = JSON.parse(body);
    if (isJsonObject(parsed) && typeof parsed.reply === 'string' && parsed.reply.trim() !== '') return parsed.reply;
  } catch {
    // Not JSON: no reply.
  }
  return null;
}
