/**
 * A webhook object: one Durable Object per webhook, named by its id, holding
 * its secret, its backlog and its retry state in its own SQLite, and driving
 * deliveries with its own alarm (decision 0135) — so a retry survives
 * eviction and restarts, and the conversation's alarm and fan-out carry
 * none of it.
 *
 * One delivery at a time (the alarm runs one at a time): the head of the
 * backlog is POSTed; a 2xx removes it and the next goes at once; anything
 * else leaves it at the head, to be tried again after `retryDelay`. A
 * webhook whose deliveries all failed for the failure budget is disabled
 * with its reason; `enable` starts again from the same backlog.
 */
import { DurableObject } from 'cloudflare:workers';
import type { Env, Remote } from '../../control/env';
import { emit } from '../../control/events';
import type { ConversationObject } from '../conversation-object';
import { conversationStub } from '../conversation-stub';
import { Backlog, bodyOf } from './backlog';
import { attempt } from './deliver';
import { policyOf, retryDelay, type DeliveryPolicy } from './policy';
import type { OutMessage, WebhookConfig, WebhookStatus } from './rpc';

interface State {
  failures: number;
  failing_since: number | null;
  last_error: string | null;
  disabled: { reason: string; at: number; last_error: string | null } | null;
  last_reply_error: { reason: string; at: number } | null;
  delivered: number;
  next_attempt_at: number | null;
}

const FRESH: State = { failures: 0, failing_since: null, last_error: null, disabled: null, last_reply_error: null, delivered: 0, next_attempt_at: null };

/** After an unexpected fault in the alarm, look again this much later (ms). */
const FAULT_RETRY_MS = 60_000;

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export class WebhookObject extends DurableObject<Env> {
  private backlog: Backlog;
  private readonly policy: DeliveryPolicy;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.backlog = this.tables();
    this.policy = policyOf(env);
  }

  /** Creates the tables (again, after `remove` dropped everything while the object stays in memory). */
  private tables(): Backlog {
    this.ctx.storage.sql.exec('CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
    return new Backlog(this.ctx.storage.sql);
  }

  private get<T>(key: string): T | undefined {
    const row = this.ctx.storage.sql.exec<{ value: string }>('SELECT value FROM kv WHERE key = ?', key).toArray()[0];
    return row ? (JSON.parse(row.value) as T) : undefined;
  }

  private put(key: string, value: unknown): void {
    this.ctx.storage.sql.exec('INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)', key, JSON.stringify(value));
  }

  private get config(): WebhookConfig | undefined {
    return this.get<WebhookConfig>('config');
  }

  private get state(): State {
    return this.get<State>('state') ?? FRESH;
  }

  private get label(): string {
    return this.config?.webhook_id ?? this.ctx.id.toString();
  }

  configure(config: WebhookConfig): void {
    this.put('config', config);
    this.put('state', FRESH);
  }

  async enqueue(messages: OutMessage[]): Promise<void> {
    if (!this.config) return;
    this.backlog.add(messages, this.policy.backlogMessages, this.policy.backlogBytes);
    if (!this.state.disabled) await this.soon();
  }

  status(): WebhookStatus | null {
    if (!this.config) return null;
    const s = this.state;
    const { n, bytes, skipped } = this.backlog.size();
    return {
      state: s.disabled ? 'disabled' : s.failing_since !== null ? 'failing' : 'active',
      failing_since: iso(s.failing_since),
      disabled: s.disabled ? { reason: s.disabled.reason, at: iso(s.disabled.at)!, last_error: s.disabled.last_error } : null,
      last_error: s.last_error,
      last_reply_error: s.last_reply_error ? { reason: s.last_reply_error.reason, at: iso(s.last_reply_error.at)! } : null,
      delivered: s.delivered,
      backlog: { messages: n, bytes, skipped },
      next_attempt_at: iso(s.next_attempt_at),
    };
  }

  async enable(): Promise<void> {
    if (!this.config) return;
    this.put('state', { ...this.state, disabled: null, failures: 0, failing_since: null, next_attempt_at: null });
    await this.soon();
  }

  async remove(): Promise<void> {
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    this.backlog = this.tables();
  }

  /** Delivers now unless an attempt is already due (a retry keeps its backoff). */
  private async soon(): Promise<void> {
    if (this.backlog.size().n === 0) return;
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(Date.now());
  }

  /** Set while a delivery is out: one in flight per webhook, whatever the runtime does with alarms set meanwhile. */
  private delivering = false;

  override async alarm(): Promise<void> {
    if (this.delivering) {
      await this.ctx.storage.setAlarm(Date.now() + 1_000);
      return;
    }
    this.delivering = true;
    try {
      await this.deliverHead();
    } catch (err) {
      console.error(`AMS webhook ${this.label}: alarm failed`, err);
      await this.ctx.storage.setAlarm(Date.now() + FAULT_RETRY_MS);
    } finally {
      this.delivering = false;
    }
  }

  private async deliverHead(): Promise<void> {
    const config = this.config;
    const head = this.backlog.head();
    if (!config || !head || this.state.disabled) return;
    const result = await attempt(config.url, config.secret, head.id, bodyOf(head), this.policy.timeoutMs);
    // Deleted (or reconfigured) while the request was out: nothing of it is kept.
    if (this.config?.webhook_id !== config.webhook_id) return;
    const now = Date.now();
    let s = this.state;
    // Event lines name the webhook and its conversation only: never the URL (its path may be a secret), the secret or the text.
    const where = { ns: config.namespace, alias: config.alias, webhook: config.webhook_id };
    if (result.ok) {
      emit(this.env, 'webhook.delivered', { ...where, status: result.status });
      this.backlog.done(head.id);
      s = { ...s, failures: 0, failing_since: null, last_error: null, next_attempt_at: null, delivered: s.delivered + 1 };
      if (result.replyError) s.last_reply_error = { reason: result.replyError, at: now };
      this.put('state', s);
      if (result.reply !== null) await this.speak(config, head.id, result.reply);
      if (this.backlog.size().n > 0) await this.ctx.storage.setAlarm(Date.now());
      return;
    }
    emit(this.env, 'webhook.failed', { ...where, ...(result.status !== undefined ? { status: result.status } : {}) });
    const failingSince = s.failing_since ?? now;
    s = { ...s, failures: s.failures + 1, failing_since: failingSince, last_error: result.error };
    if (now - failingSince >= this.policy.budgetMs) {
      this.put('state', { ...s, next_attempt_at: null, disabled: { reason: 'failure_budget', at: now, last_error: result.error } });
      emit(this.env, 'webhook.disabled', where);
      console.warn(`AMS webhook ${this.label}: disabled after failing for ${now - failingSince} ms (${result.error})`);
      await this.conversation(config).webhookDisabled(config.webhook_id).catch((err) => console.error(`AMS webhook ${this.label}: could not tell its conversation`, err));
      return;
    }
    const next = now + retryDelay(s.failures, this.policy);
    this.put('state', { ...s, next_attempt_at: next });
    await this.ctx.storage.setAlarm(next);
  }

  /** The receiver answered with a reply: the conversation speaks it on the webhook's stream (or says why not). */
  private async speak(config: WebhookConfig, messageId: string, text: string): Promise<void> {
    let reason: string | null;
    try {
      const out = await this.conversation(config).webhookSpeak(config.webhook_id, messageId, text);
      reason = out.ok ? null : out.reason;
    } catch (err) {
      console.error(`AMS webhook ${this.label}: reply not spoken`, err);
      reason = 'internal_error';
    }
    if (reason !== null) this.put('state', { ...this.state, last_reply_error: { reason, at: Date.now() } });
  }

  private conversation(config: WebhookConfig): Remote<ConversationObject> {
    return conversationStub(this.env, config.namespace, config.alias);
  }
}
