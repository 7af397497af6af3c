/**
 * The contract between a conversation object and its webhook objects
 * (WebhookObject, one per webhook, named by the webhook id), spoken over
 * Durable Object RPC both ways (decisions 0135–0137).
 *
 * - Feed (conversation → webhook): `enqueue(messages)`, one call in flight
 *   per webhook, messages in order. A message is stored before the call
 *   answers; the conversation keeps it in its outbox until then, so nothing
 *   accepted is lost to a restart between the two. Ids are deterministic, so
 *   a message handed over twice is stored once.
 * - Back (webhook → conversation): `webhookSpeak` (a receiver's reply, spoken
 *   on the webhook's stream, idempotent by the message id it answers) and
 *   `webhookDisabled` (the failure budget is spent: its stream leaves).
 */
import type { WebhookEvent, WebhookNotify } from '../../protocol/webhooks';

/** One message for one webhook: `id` is its `webhook-id` header, stable across every retry. */
export interface OutMessage {
  id: string;
  /** The JSON body, already serialized (what is signed, byte for byte). */
  body: string;
}

/** What the webhook object is configured with at registration; the secret lives only there. */
export interface WebhookConfig {
  webhook_id: string;
  namespace: string;
  alias: string;
  url: string;
  secret: string;
}

/** A webhook's delivery state, as its listing shows it (never the secret). */
export interface WebhookStatus {
  state: 'active' | 'failing' | 'disabled';
  failing_since: string | null;
  disabled: { reason: string; at: string; last_error: string | null } | null;
  last_error: string | null;
  last_reply_error: { reason: string; at: string } | null;
  delivered: number;
  backlog: { messages: number; bytes: number; skipped: number };
  next_attempt_at: string | null;
}

export interface WebhookRpc {
  configure(config: WebhookConfig): Promise<void>;
  enqueue(messages: OutMessage[]): Promise<void>;
  status(): Promise<WebhookStatus | null>;
  enable(): Promise<void>;
  /** Forgets everything (the webhook was deleted, or its conversation). */
  remove(): Promise<void>;
}

/** A registration as the conversation keeps it (its row). */
export interface WebhookRow {
  webhook_id: string;
  /** The account that registered it: it (and the conversation's owner) may list, delete and enable it. */
  account_id: string;
  stream_id: string;
  stream_name: string;
  url: string;
  /** The streams it hears utterances of (decision 0130's filter); null: every stream. */
  subscribe: string[] | null;
  notify: WebhookNotify;
  events: WebhookEvent[];
  created_at: string;
  /** 1 while disabled: its stream is not held and nothing is fed to it. */
  disabled: number;
}

/** What a reply came to. */
export type SpeakOutcome = { ok: true; seq: number } | { ok: false; reason: 'reply_too_large' | 'reply_rate_limited' | 'webhook_not_found' | 'rate_limited' };

/** The calls the conversation object answers for its webhooks. */
export interface ConversationWebhookRpc {
  webhookSpeak(webhookId: string, messageId: string, text: string): Promise<SpeakOutcome>;
  webhookDisabled(webhookId: string): Promise<void>;
}
