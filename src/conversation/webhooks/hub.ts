/**
 * A conversation's webhooks (decisions 0135–0139): their registrations
 * (SQLite rows), their listeners in the fan-out, what each is told, and the
 * replies they speak. Deliveries themselves happen in the webhook objects;
 * this side only decides what each webhook gets and hands it over through
 * the outbox.
 *
 * The loop rule: a reply is one utterance on the webhook's stream. After
 * `webhookLoopUtterances` such utterances in a row with nobody else speaking
 * in between, further webhook replies are still spoken (everyone connected
 * hears them) but no webhook is told them, so two webhooks that answer
 * everything stop within a few turns; a token of any other stream ends the
 * run. Each webhook may also speak at most `webhookRepliesPerMinute` replies.
 */
import type { LinkClaims } from '../../control/links';
import type { HttpErrorCode } from '../../protocol/errors';
import type { LoggedFrame } from '../../protocol/frames';
import type { Identity } from '../../protocol/identity';
import { LIMITS } from '../../protocol/limits';
import { utteranceGapOf } from '../../protocol/records';
import { mentions, type Entry } from '../../protocol/utterances';
import type { WebhookEvent, WebhookMessage, WebhookRequest } from '../../protocol/webhooks';
import { claimsValid } from '../admission';
import type { Conversation } from '../conversation';
import type { JoinRequest } from '../join';
import type { Sql } from '../sql';
import { utf8Length } from '../wire';
import { WebhookListener } from './listener';
import { Outbox } from './outbox';
import type { SpeakOutcome, WebhookConfig, WebhookRow, WebhookRpc, WebhookStatus } from './rpc';

export type HookOutcome<T> = { ok: true; value: T } | { ok: false; error: HttpErrorCode; message?: string };

/** Who calls: the account behind the bearer credential, with the write link it came with. */
export interface Caller {
  claims: LinkClaims | null;
  accountId: string;
}

export interface Registration {
  webhook_id: string;
  stream_id: string;
  stream_name: string;
}

export type WebhookListing = Omit<WebhookRow, 'disabled'> & Partial<WebhookStatus>;

/** Who a webhook's stream is (issue 19b's identity): a service, not an agent holding a connection. */
const WEBHOOK_IDENTITY: Identity = { kind: 'service', client: 'ams-webhook' };

const COLUMNS = 'webhook_id, account_id, stream_id, stream_name, url, subscribe, notify, events, created_at, disabled';

export class WebhookHub {
  private readonly rows = new Map<string, WebhookRow>();
  private readonly listeners = new Map<string, WebhookListener>();
  private readonly outbox: Outbox;
  /** Consecutive webhook replies with nobody else speaking; seqs of replies no webhook is told. */
  private run = 0;
  private readonly muted = new Set<number>();
  private readonly replies = new Map<string, number[]>();
  private settleTimer: ReturnType<typeof setTimeout> | undefined;
  private settleAt = Infinity;

  constructor(
    private readonly conv: () => Conversation,
    private readonly sql: Sql,
    private readonly stubOf: (webhookId: string) => WebhookRpc,
    private readonly keepAwake: (work: Promise<unknown>) => void,
    private readonly clock: () => number = Date.now,
  ) {
    sql.exec(`CREATE TABLE IF NOT EXISTS webhooks (webhook_id TEXT PRIMARY KEY, account_id TEXT NOT NULL, stream_id TEXT NOT NULL,
      stream_name TEXT NOT NULL, url TEXT NOT NULL, subscribe TEXT, notify TEXT NOT NULL, events TEXT NOT NULL, created_at TEXT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0)`);
    for (const r of sql.exec<Record<string, string | number>>(`SELECT ${COLUMNS} FROM webhooks`)) {
      const row = { ...r, events: JSON.parse(r.events as string), subscribe: r.subscribe === null ? null : JSON.parse(r.subscribe as string) } as unknown as WebhookRow;
      this.rows.set(row.webhook_id, row);
    }
    this.outbox = new Outbox(sql, stubOf, keepAwake);
  }

  /** After a restart: every active webhook holds its stream again, announcing nothing (call before `settlePresence`). */
  restore(): void {
    const conv = this.conv();
    if (!conv.record) return;
    for (const row of this.rows.values()) {
      if (row.disabled) continue;
      const l = this.listenerFor(row);
      if (conv.restore(l)) this.listeners.set(row.webhook_id, l);
    }
  }

  get count(): number {
    return this.rows.size;
  }

  private listenerFor(row: WebhookRow): WebhookListener {
    const conv = this.conv();
    return new WebhookListener(row, conv.head.seq, utteranceGapOf(conv.record!), {
      heard: (f) => this.heard(f),
      told: (l, e, ts) => this.told(l, e, ts),
      settleBy: (at) => this.settleBy(at),
    });
  }

  /** The caller may act here: the conversation exists, the link is current and writes. */
  private check(caller: Caller): HookOutcome<null> {
    const r = this.conv().record;
    if (!r) return { ok: false, error: 'conversation_not_found' };
    if (!claimsValid(caller.claims, r)) return { ok: false, error: 'invalid_magic_link' };
    if (caller.claims.scope !== 'write') return { ok: false, error: 'read_only', message: 'Webhooks need a write link.' };
    return { ok: true, value: null };
  }

  /** The row `id` if the caller registered it or owns the conversation. */
  private visible(caller: Caller, id: string): WebhookRow | undefined {
    const row = this.rows.get(id);
    return row && (row.account_id === caller.accountId || this.conv().record?.owner_account_id === caller.accountId) ? row : undefined;
  }

  private roomFor(accountId: string): HookOutcome<null> {
    if (this.rows.size >= LIMITS.webhooksPerConversation) return { ok: false, error: 'webhook_limit', message: `The conversation holds ${LIMITS.webhooksPerConversation} webhooks already.` };
    const mine = [...this.rows.values()].filter((r) => r.account_id === accountId).length;
    if (mine >= LIMITS.webhooksPerAccount) return { ok: false, error: 'webhook_limit', message: `This account registered ${LIMITS.webhooksPerAccount} webhooks in this conversation already.` };
    return { ok: true, value: null };
  }

  /**
   * Registers a webhook: checks first, then configures its object (which
   * keeps the secret), then — checking again, since others may have acted
   * meanwhile — holds its stream (`stream_joined`) and stores the row in one
   * step. A refusal at any point leaves nothing behind.
   */
  async register(caller: Caller, req: WebhookRequest, config: WebhookConfig, defaultName: string): Promise<HookOutcome<Registration>> {
    const decide = () => {
      const ok = this.check(caller);
      if (!ok.ok) return ok;
      const room = this.roomFor(caller.accountId);
      if (!room.ok) return room;
      const join: JoinRequest = {
        accountId: config.webhook_id, scope: 'write', generation: this.conv().record!.generation, streamName: req.stream_name ?? defaultName,
        streamMetadata: { webhook: true }, identity: WEBHOOK_IDENTITY, selfSubscribe: false, chain: false, cursor: {},
      };
      const outcome = this.conv().decideJoin(join);
      if (!outcome.ok) return { ok: false as const, error: outcome.reason === 'stream_name_conflict' ? 'stream_name_conflict' as const : 'conversation_full' as const };
      return { ok: true as const, value: { join, outcome } };
    };
    const first = decide();
    if (!first.ok) return first;
    const stub = this.stubOf(config.webhook_id);
    await stub.configure(config);
    const second = decide();
    if (!second.ok) {
      this.keepAwake(stub.remove().catch(() => {}));
      return second;
    }
    const { join, outcome } = second.value;
    const stream = outcome.stream!;
    const row: WebhookRow = {
      webhook_id: config.webhook_id, account_id: caller.accountId, stream_id: stream.stream_id, stream_name: stream.stream_name,
      url: req.url, subscribe: req.subscribe ?? null, notify: req.notify, events: req.events, created_at: new Date(this.clock()).toISOString(), disabled: 0,
    };
    this.sql.exec(`INSERT INTO webhooks (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)`, row.webhook_id, row.account_id, row.stream_id,
      row.stream_name, row.url, row.subscribe && JSON.stringify(row.subscribe), row.notify, JSON.stringify(row.events), row.created_at);
    this.rows.set(row.webhook_id, row);
    this.hold(row, join, outcome);
    return { ok: true, value: { webhook_id: row.webhook_id, stream_id: row.stream_id, stream_name: row.stream_name } };
  }

  /** Puts the webhook's listener in the fan-out, holding its stream (`stream_joined`). */
  private hold(row: WebhookRow, join?: JoinRequest, decided?: ReturnType<Conversation['decideJoin']>): boolean {
    const conv = this.conv();
    join ??= { accountId: row.webhook_id, scope: 'write', generation: conv.record!.generation, streamName: row.stream_name, identity: WEBHOOK_IDENTITY, selfSubscribe: false, chain: false, cursor: {} };
    const outcome = decided ?? conv.decideJoin(join);
    if (!outcome.ok) return false;
    const l = this.listenerFor(row);
    conv.admit(l, join, outcome);
    this.listeners.set(row.webhook_id, l);
    return true;
  }

  /** Takes the listener out of the fan-out (`stream_left`). */
  private release(id: string): void {
    const l = this.listeners.get(id);
    if (!l) return;
    this.listeners.delete(id);
    this.conv().leave(l);
  }

  async list(caller: Caller): Promise<HookOutcome<WebhookListing[]>> {
    const ok = this.check(caller);
    if (!ok.ok) return ok;
    const rows = [...this.rows.values()].filter((r) => this.visible(caller, r.webhook_id));
    const states = await Promise.all(rows.map((r) => this.stubOf(r.webhook_id).status().catch(() => null)));
    return { ok: true, value: rows.map(({ disabled: _, ...r }, i) => ({ ...r, ...(states[i] ?? {}) })) };
  }

  async remove(caller: Caller, id: string): Promise<HookOutcome<{ deleted: true; webhook_id: string }>> {
    const ok = this.check(caller);
    if (!ok.ok) return ok;
    if (!this.visible(caller, id)) return { ok: false, error: 'webhook_not_found' };
    this.release(id);
    this.rows.delete(id);
    this.replies.delete(id);
    this.sql.exec('DELETE FROM webhooks WHERE webhook_id = ?', id);
    this.outbox.forget(id);
    await this.stubOf(id).remove();
    return { ok: true, value: { deleted: true, webhook_id: id } };
  }

  async enable(caller: Caller, id: string): Promise<HookOutcome<{ enabled: true; webhook_id: string }>> {
    const ok = this.check(caller);
    if (!ok.ok) return ok;
    const row = this.visible(caller, id);
    if (!row) return { ok: false, error: 'webhook_not_found' };
    if (row.disabled) {
      if (!this.hold(row)) return { ok: false, error: 'conversation_full' };
      row.disabled = 0;
      this.sql.exec('UPDATE webhooks SET disabled = 0 WHERE webhook_id = ?', id);
    }
    await this.stubOf(id).enable();
    return { ok: true, value: { enabled: true, webhook_id: id } };
  }

  /** Its object spent the failure budget: its stream leaves and nothing more is fed to it until it is enabled. */
  disabled(id: string): void {
    const row = this.rows.get(id);
    if (!row || row.disabled) return;
    row.disabled = 1;
    this.sql.exec('UPDATE webhooks SET disabled = 1 WHERE webhook_id = ?', id);
    this.release(id);
  }

  /** A receiver's reply, spoken on the webhook's stream as one utterance (once per message it answers). */
  speak(id: string, messageId: string, text: string): SpeakOutcome {
    const row = this.rows.get(id);
    const conv = this.conv();
    const stream = row && conv.streams.get(row.stream_id);
    if (!row || !stream || !conv.record) return { ok: false, reason: 'webhook_not_found' };
    if (utf8Length(text) > LIMITS.tokenBytes) return { ok: false, reason: 'reply_too_large' };
    if (conv.hasClientId(stream.stream_id, messageId)) return { ok: true, seq: 0 };
    const now = this.clock();
    const recent = (this.replies.get(id) ?? []).filter((t) => now - t < 60_000);
    if (recent.length >= LIMITS.webhookRepliesPerMinute) return { ok: false, reason: 'reply_rate_limited' };
    // Decided before the frame is logged: the listeners read it inside `emit`.
    const mute = ++this.run > LIMITS.webhookLoopUtterances;
    const seq = conv.head.seq + 1;
    if (mute) this.muted.add(seq);
    const out = conv.emit(stream, { data: text, id: messageId, end: true });
    if (!out.ok) {
      this.muted.delete(seq);
      this.run--;
      return { ok: false, reason: 'rate_limited' };
    }
    recent.push(now);
    this.replies.set(id, recent);
    if (this.muted.size > 1_000) this.muted.delete(this.muted.values().next().value!);
    return { ok: true, seq: out.seq };
  }

  /** Any other stream speaking ends a run of webhook replies. */
  private heard(frame: LoggedFrame): void {
    if (frame.type !== 'token' || this.run === 0) return;
    for (const r of this.rows.values()) if (r.stream_id === frame.stream_id) return;
    this.run = 0;
  }

  private told(l: WebhookListener, e: Entry, ts: string): void {
    const row = l.row;
    // A change of instructions is no webhook event (yet): webhooks tell what streams say and who comes and goes.
    if (e.kind === 'instructions') return;
    if (this.listeners.get(row.webhook_id) !== l || e.stream_id === row.stream_id) return;
    const event: WebhookEvent | null = e.kind === 'message' ? 'utterance' : e.kind === 'joined' ? 'joined' : e.kind === 'left' ? 'left' : null;
    if (!event || !row.events.includes(event)) return;
    if (e.kind === 'message') {
      if (this.muted.has(e.first_seq)) return;
      if (row.notify === 'mentions' && !mentions(e.text, row.stream_name)) return;
    }
    const r = this.conv().record!;
    const body: WebhookMessage = {
      type: event,
      webhook_id: row.webhook_id,
      conversation: { conversation_id: r.conversation_id, namespace: r.namespace, alias: r.alias },
      speaker: { stream_id: e.stream_id, stream_name: e.stream_name, account_id: e.owner_account_id },
      ts,
      ...(e.kind === 'message' ? { text: e.text, first_seq: e.first_seq, last_seq: e.last_seq, complete: e.complete } : { seq: e.seq }),
    };
    const seq = e.kind === 'message' ? e.first_seq : e.seq;
    this.outbox.put(row.webhook_id, { id: `msg_${row.webhook_id.slice(3)}_${seq}`, body: JSON.stringify(body) });
  }

  /** One timer for every listener: at the earliest moment a held utterance may close by the quiet gap. */
  private settleBy(at: number): void {
    if (at >= this.settleAt) return;
    clearTimeout(this.settleTimer);
    this.settleAt = at;
    const wait = Math.max(0, at - this.clock()) + 5;
    this.keepAwake(new Promise((resolve) => setTimeout(resolve, wait + 5)));
    this.settleTimer = setTimeout(() => {
      this.settleAt = Infinity;
      const now = this.clock();
      for (const l of this.listeners.values()) l.read(now);
    }, wait);
  }

  /** The conversation is being deleted: every webhook object forgets its webhook. */
  destroyAll(): void {
    clearTimeout(this.settleTimer);
    for (const id of this.rows.keys()) this.keepAwake(this.stubOf(id).remove().catch(() => {}));
  }
}
