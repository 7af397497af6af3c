/**
 * The conversation's side of webhooks, in Node over the real Conversation
 * and stores on an in-process SQLite: what each webhook is handed (one
 * message per completed utterance of the others, never its own stream's),
 * the limits, replies, the loop rule, and a restart.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { Wire, type Member } from '../../src/conversation/audience';
import type { Connection } from '../../src/conversation/connection';
import { Conversation } from '../../src/conversation/conversation';
import { ConversationStore } from '../../src/conversation/store';
import type { Sql } from '../../src/conversation/sql';
import { WebhookHub, type Caller } from '../../src/conversation/webhooks/hub';
import type { OutMessage, WebhookRpc } from '../../src/conversation/webhooks/rpc';
import type { LoggedFrame } from '../../src/protocol/frames';
import { LIMITS } from '../../src/protocol/limits';
import type { ConversationRecord } from '../../src/protocol/records';
import type { WebhookMessage, WebhookRequest } from '../../src/protocol/webhooks';
import { memorySql } from '../support/sqlite';

const record: ConversationRecord = {
  conversation_id: 'conv_1', namespace: 'ns', alias: 'room', id_kind: 'ulid', metadata: {}, created_at: '2026-01-01T00:00:00.000Z',
  owner_account_id: 'acc_owner', history: { max_frames: 1_000, max_age_s: 86_400 }, epoch: 'ep_1', generation: 1,
};

/** A live writer that keeps the frames it hears. */
class Peer implements Connection {
  readonly member: Member;
  readonly heard: LoggedFrame[] = [];
  readonly scope = 'write' as const;
  readonly generation = 1;
  readonly receipts = false;
  streamId: string | null = null;
  constructor(readonly accountId: string) {
    this.member = { sink: this, accountId, selfSubscribe: false, wire: Wire.Json };
  }
  send(_t: string, f?: LoggedFrame) {
    if (f) this.heard.push(f);
  }
  close() {}
}

/** Stand-ins for the webhook objects: what each was configured with and handed. */
class Objects {
  readonly handed = new Map<string, OutMessage[]>();
  readonly removed: string[] = [];
  stub = (id: string): WebhookRpc => ({
    configure: async () => {},
    enqueue: async (m) => void this.handed.set(id, [...(this.handed.get(id) ?? []), ...m]),
    status: async () => null,
    enable: async () => {},
    remove: async () => void this.removed.push(id),
  });
  texts(id: string): (string | undefined)[] {
    return (this.handed.get(id) ?? []).map((m) => (JSON.parse(m.body) as WebhookMessage).text);
  }
}

const settle = () => new Promise((r) => setTimeout(r, 0));
const caller = (accountId: string): Caller => ({ accountId, claims: { conversation_id: 'conv_1', scope: 'write', generation: 1 } });
const request = (extra: Partial<WebhookRequest> = {}): WebhookRequest => ({ url: 'https://hooks.example.com/in', notify: 'all', events: ['utterance'], ...extra });

let n = 0;
let sql: Sql;
let conv: Conversation;
let objects: Objects;
let hub: WebhookHub;

function fresh(): { conv: Conversation; hub: WebhookHub } {
  const c = new Conversation(new ConversationStore(sql), { streamId: () => `str_${++n}`, streamName: () => `name-${n}` });
  const h = new WebhookHub(() => c, sql, objects.stub, () => {});
  return { conv: c, hub: h };
}

async function register(account: string, extra: Partial<WebhookRequest> = {}) {
  const id = `wh_${String(++n).padStart(26, '0')}`;
  const out = await hub.register(caller(account), request(extra), { webhook_id: id, namespace: 'ns', alias: 'room', url: 'https://hooks.example.com/in', secret: 'whsec_x' }, `webhook-${n}`);
  if (!out.ok) throw new Error(out.error);
  return out.value;
}

function join(account: string, name: string): Peer {
  const req = { accountId: account, scope: 'write' as const, generation: 1, streamName: name, selfSubscribe: false, chain: false, cursor: {} };
  const outcome = conv.decideJoin(req);
  if (!outcome.ok) throw new Error(outcome.reason);
  const p = new Peer(account);
  p.streamId = outcome.stream!.stream_id;
  conv.admit(p, req, outcome);
  return p;
}

function say(p: Peer, data: string, end = true): void {
  const out = conv.emit(conv.writableStream(p)!, { data, end });
  if (!out.ok) throw new Error(out.reason);
}

beforeEach(async () => {
  sql = await memorySql();
  objects = new Objects();
  ({ conv, hub } = fresh());
  conv.create({ ...record }, { stream_id: 'str_minted', stream_name: 'minted', owner_account_id: 'acc_owner', metadata: {}, created_at: record.created_at, connected_once: false });
});

describe('a webhook in the conversation', () => {
  it('holds a stream owned by its own id, announced to the others, and is handed each completed utterance once', async () => {
    const alice = join('acc_alice', 'alice');
    const hook = await register('acc_owner');
    expect(alice.heard.at(-1)).toMatchObject({ type: 'stream_joined', stream_name: hook.stream_name, owner_account_id: hook.webhook_id, metadata: { webhook: true } });
    expect(conv.isHeld(hook.stream_id)).toBe(true);
    say(alice, 'hello ', false);
    say(alice, 'world');
    await settle();
    const [m] = objects.handed.get(hook.webhook_id)!;
    expect(JSON.parse(m!.body)).toMatchObject({ type: 'utterance', text: 'hello world', complete: true, speaker: { stream_name: 'alice', account_id: 'acc_alice' }, conversation: { alias: 'room' } });
    expect(objects.handed.get(hook.webhook_id)).toHaveLength(1);
  });

  it('hears the registrant\'s other streams but never its own replies', async () => {
    const hook = await register('acc_owner');
    const mine = join('acc_owner', 'desk');
    say(mine, 'from the registrant');
    expect(hub.speak(hook.webhook_id, 'msg_a', 'my own reply')).toMatchObject({ ok: true });
    await settle();
    expect(objects.texts(hook.webhook_id)).toEqual(['from the registrant']);
    expect(mine.heard.at(-1)).toMatchObject({ type: 'token', data: 'my own reply', end: true, stream_id: hook.stream_id });
  });

  it('with notify "mentions" is handed only utterances naming its stream', async () => {
    const alice = join('acc_alice', 'alice');
    const hook = await register('acc_owner', { notify: 'mentions', stream_name: 'bot' });
    for (const t of ['plain', 'mail x@bot.example', '@bot hi', 'hi @Bot.']) say(alice, t);
    await settle();
    expect(objects.texts(hook.webhook_id)).toEqual(['@bot hi', 'hi @Bot.']);
  });

  it('with subscribe is handed only the utterances of those streams, and every join', async () => {
    const alice = join('acc_alice', 'alice');
    const bob = join('acc_bob', 'bob');
    const hook = await register('acc_owner', { subscribe: ['bob'], events: ['utterance', 'joined'] });
    say(alice, 'from alice');
    say(bob, 'from bob');
    join('acc_carol', 'carol');
    await settle();
    const got = (objects.handed.get(hook.webhook_id) ?? []).map((m) => JSON.parse(m.body) as WebhookMessage).map((m) => `${m.type} ${m.speaker.stream_name}`);
    expect(got).toEqual(['utterance bob', 'joined carol']);
  });

  it('is held to 3 per account and 10 per conversation, and a refusal leaves nothing', async () => {
    for (let i = 0; i < 3; i++) await register('acc_owner');
    const fourth = await hub.register(caller('acc_owner'), request(), { webhook_id: 'wh_x', namespace: 'ns', alias: 'room', url: 'u', secret: 's' }, 'webhook-x');
    expect(fourth).toMatchObject({ ok: false, error: 'webhook_limit' });
    for (let i = 0; i < 7; i++) await register(`acc_${i}`);
    expect(hub.count).toBe(LIMITS.webhooksPerConversation);
    expect(await hub.register(caller('acc_new'), request(), { webhook_id: 'wh_y', namespace: 'ns', alias: 'room', url: 'u', secret: 's' }, 'webhook-y')).toMatchObject({ ok: false, error: 'webhook_limit' });
    expect(conv.streams.named('webhook-y')).toBeUndefined();
  });

  it('refuses a read link, a stale link and another account\'s stream name', async () => {
    const read = { accountId: 'acc_owner', claims: { conversation_id: 'conv_1', scope: 'read' as const, generation: 1 } };
    const cfg = { webhook_id: 'wh_z', namespace: 'ns', alias: 'room', url: 'u', secret: 's' };
    expect(await hub.register(read, request(), cfg, 'w')).toMatchObject({ ok: false, error: 'read_only' });
    expect(await hub.register({ ...caller('acc_owner'), claims: { conversation_id: 'conv_1', scope: 'write', generation: 0 } }, request(), cfg, 'w')).toMatchObject({ ok: false, error: 'invalid_magic_link' });
    join('acc_alice', 'alice');
    expect(await hub.register(caller('acc_owner'), request({ stream_name: 'alice' }), cfg, 'w')).toMatchObject({ ok: false, error: 'stream_name_conflict' });
    expect(hub.count).toBe(0);
  });

  it('speaks a reply once per message it answers, and at most 20 a minute', async () => {
    const alice = join('acc_alice', 'alice');
    const hook = await register('acc_owner');
    expect(hub.speak(hook.webhook_id, 'msg_1', 'once')).toMatchObject({ ok: true });
    expect(hub.speak(hook.webhook_id, 'msg_1', 'once')).toMatchObject({ ok: true });
    expect(alice.heard.filter((f) => f.type === 'token')).toHaveLength(1);
    for (let i = 2; i <= LIMITS.webhookRepliesPerMinute; i++) expect(hub.speak(hook.webhook_id, `msg_${i}`, `r${i}`)).toMatchObject({ ok: true });
    expect(hub.speak(hook.webhook_id, 'msg_over', 'too many')).toEqual({ ok: false, reason: 'reply_rate_limited' });
    expect(hub.speak(hook.webhook_id, 'msg_big', 'x'.repeat(LIMITS.tokenBytes + 1))).toEqual({ ok: false, reason: 'reply_too_large' });
  });

  it('stops two webhooks that answer each other after 8 webhook utterances, until someone else speaks', async () => {
    const alice = join('acc_alice', 'alice');
    const a = await register('acc_owner');
    const b = await register('acc_owner');
    say(alice, 'start');
    for (let turn = 1; turn <= 12; turn++) hub.speak(turn % 2 ? a.webhook_id : b.webhook_id, `msg_t${turn}`, `turn ${turn}`);
    await settle();
    // a spoke the odd turns, b the even ones: each is told the other's, up to turn 8.
    expect(objects.texts(a.webhook_id)).toEqual(['start', 'turn 2', 'turn 4', 'turn 6', 'turn 8']);
    expect(objects.texts(b.webhook_id)).toEqual(['start', 'turn 1', 'turn 3', 'turn 5', 'turn 7']);
    expect(alice.heard.filter((f) => f.type === 'token')).toHaveLength(12);
    say(alice, 'again');
    hub.speak(a.webhook_id, 'msg_t13', 'turn 13');
    await settle();
    expect(objects.texts(b.webhook_id).slice(-2)).toEqual(['again', 'turn 13']);
  });

  it('after a restart holds its stream again without announcing anything, and is still fed', async () => {
    const alice = join('acc_alice', 'alice');
    const hook = await register('acc_owner');
    const before = conv.head.seq;
    ({ conv, hub } = fresh());
    hub.restore();
    conv.settlePresence();
    expect(conv.isHeld(hook.stream_id)).toBe(true);
    // alice's own connection did not survive the restart: only its leave is logged.
    expect(conv.head.seq).toBe(before + 1);
    const again = join('acc_alice', 'alice');
    say(again, 'after the restart');
    await settle();
    expect(objects.texts(hook.webhook_id)).toEqual(['after the restart']);
    void alice;
  });

  it('deleted, its stream leaves and its object forgets it; disabled, its stream leaves until enabled', async () => {
    const alice = join('acc_alice', 'alice');
    const a = await register('acc_owner');
    const b = await register('acc_owner');
    expect(await hub.remove(caller('acc_alice'), a.webhook_id)).toMatchObject({ ok: false, error: 'webhook_not_found' });
    expect(await hub.remove(caller('acc_owner'), a.webhook_id)).toMatchObject({ ok: true });
    expect(objects.removed).toEqual([a.webhook_id]);
    expect(alice.heard.at(-1)).toMatchObject({ type: 'stream_left', stream_id: a.stream_id });
    hub.disabled(b.webhook_id);
    expect(alice.heard.at(-1)).toMatchObject({ type: 'stream_left', stream_id: b.stream_id });
    say(alice, 'while disabled');
    expect(await hub.enable(caller('acc_owner'), b.webhook_id)).toMatchObject({ ok: true });
    expect(alice.heard.at(-1)).toMatchObject({ type: 'stream_joined', stream_id: b.stream_id });
    say(alice, 'after enable');
    await settle();
    expect(objects.texts(b.webhook_id)).toEqual(['after enable']);
  });
});
