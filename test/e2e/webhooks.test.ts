/**
 * Webhooks end to end: a real `wrangler dev` calls a real Node receiver on
 * localhost, which verifies every delivery with the `standardwebhooks`
 * library. The retry schedule is shrunk for the test with the
 * development-only AMS_WEBHOOK_POLICY (production: 10 s timeout, 5 s…1 h
 * backoff, 24 h budget, 1,000 messages / 4 MiB backlog).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AmsClient } from '../../src/client';
import { freePort, startBroker, type Broker } from '../support/broker';
import { startReceiver, type Receiver } from '../support/receiver';
import { accounts, barrier, open, waitFor } from './support';
import { deleteWebhook, enableWebhook, listWebhooks, registerWebhook } from './webhook-support';

const POLICY = { timeoutMs: 1_500, retryBaseMs: 300, retryCapMs: 1_000, budgetMs: 8_000, backlogMessages: 5 };
const vars = { AMS_WEBHOOK_POLICY: JSON.stringify(POLICY) };

let broker: Broker;
let api: AmsClient;
const receivers: Receiver[] = [];

beforeAll(async () => {
  broker = await startBroker({ vars, logLevel: 'log' });
  api = new AmsClient(broker.url);
});
afterAll(async () => {
  await broker?.stop();
});
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

/** Polls an asynchronous condition (a listing) until it holds. */
async function until(cond: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function receiver(): Promise<Receiver> {
  const r = await startReceiver();
  receivers.push(r);
  return r;
}

/** A conversation with a speaking peer and a webhook registered by the owner at a fresh receiver. */
async function setup(body: Record<string, unknown> = {}) {
  const [owner, peer] = await accounts(api, 2);
  const conv = await api.createConversation(owner);
  const r = await receiver();
  const reg = await registerWebhook(conv.magic_link, owner.credential, { url: r.url, ...body });
  expect(reg.status, JSON.stringify(reg.body)).toBe(201);
  r.secret = reg.body.secret;
  const speaker = open(conv.magic_link, { credential: peer.credential, streamName: 'alice' });
  await speaker.joined;
  return { owner, peer, conv, r, hook: reg.body, speaker };
}

describe('webhooks over a real wrangler dev', () => {
  it('a peer\'s utterance reaches the webhook as exactly one verified POST carrying its text', async () => {
    const { r, hook, speaker, conv, owner } = await setup();
    expect(hook.secret).toMatch(/^whsec_[A-Za-z0-9+/=]{40,}$/);
    speaker.send('hello ');
    speaker.send('webhook', { end: true });
    await waitFor(() => r.deliveries.length >= 1, 20_000, 'a delivery');
    await barrier(speaker);
    speaker.send('second', { end: true });
    await waitFor(() => r.deliveries.length >= 2, 20_000, 'the second delivery');
    const [first, second] = r.deliveries;
    expect(first!.body).toMatchObject({ type: 'utterance', text: 'hello webhook', complete: true, webhook_id: hook.webhook_id, speaker: { stream_name: 'alice' } });
    expect(first!.body.last_seq! - first!.body.first_seq!).toBe(1);
    expect(second!.body.text).toBe('second');
    expect(new Set(r.deliveries.map((d) => d.id)).size).toBe(2);
    expect(r.rejected).toEqual([]);
    const listed = await listWebhooks(conv.magic_link, owner.credential);
    expect(listed).toHaveLength(1);
    expect(JSON.stringify(listed)).not.toContain(hook.secret);
    expect(listed[0]).toMatchObject({ webhook_id: hook.webhook_id, state: 'active', delivered: 2 });
  });

  it('the webhook is its own participant: it hears the registrant\'s other streams, never its own, and peers see its stream', async () => {
    const { r, hook, owner, conv } = await setup();
    r.answer = (d) => (d.body.text === 'ping' ? { status: 200, body: 'pong' } : { status: 204 });
    const mine = open(conv.magic_link, { credential: owner.credential, streamName: 'owner-desk' });
    const joined = await mine.joined;
    expect(joined.peers.map((p) => p.stream_name)).toContain(hook.stream_name);
    expect(joined.peers.find((p) => p.stream_name === hook.stream_name)!.owner_account_id).toBe(hook.webhook_id);
    mine.send('ping', { end: true });
    await mine.next((f) => f.type === 'token' && f.stream_name === hook.stream_name && f.data === 'pong', 20_000);
    // The reply is the webhook's own stream: it is never delivered back to it.
    mine.send('after', { end: true });
    await waitFor(() => r.deliveries.some((d) => d.body.text === 'after'), 20_000, 'the later utterance');
    expect(r.deliveries.map((d) => d.body.text)).toEqual(['ping', 'after']);
    expect(r.deliveries.every((d) => d.body.speaker.stream_name === 'owner-desk')).toBe(true);
  });

  it('a reply is heard by a WebSocket peer as one utterance of the webhook\'s stream (text/plain and JSON {reply})', async () => {
    const { r, hook, speaker, conv } = await setup({ stream_name: 'helper' });
    const [listener] = await accounts(api, 1);
    const ear = open(conv.magic_link, { credential: listener!.credential });
    await ear.joined;
    r.answer = (d) => (d.body.text === 'one' ? { status: 200, body: 'plain reply' } : { status: 200, type: 'application/json', body: JSON.stringify({ reply: 'json reply' }) });
    speaker.send('one', { end: true });
    const a = await ear.next((f) => f.type === 'token' && f.stream_name === 'helper', 20_000);
    expect(a).toMatchObject({ data: 'plain reply', end: true, stream_id: hook.stream_id, owner_account_id: hook.webhook_id });
    speaker.send('two', { end: true });
    await ear.next((f) => f.type === 'token' && f.stream_name === 'helper' && f.data === 'json reply', 20_000);
  });

  it('two webhooks that answer everything stop after 8 webhook utterances: the 9th and 10th replies are spoken but reach no webhook', async () => {
    const [owner, human] = await accounts(api, 2);
    const conv = await api.createConversation(owner);
    const [ra, rb] = [await receiver(), await receiver()];
    for (const [r, name] of [[ra, 'echo-a'], [rb, 'echo-b']] as const) {
      const reg = await registerWebhook(conv.magic_link, owner.credential, { url: r.url, stream_name: name });
      expect(reg.status).toBe(201);
      r.secret = reg.body.secret;
      r.answer = (d) => ({ status: 200, body: `${name} answers ${d.body.speaker.stream_name}` });
    }
    const person = open(conv.magic_link, { credential: human!.credential, streamName: 'person' });
    await person.joined;
    person.send('hello both', { end: true });
    const replies = () => person.frames.filter((f) => f.type === 'token' && (f.stream_name === 'echo-a' || f.stream_name === 'echo-b'));
    await waitFor(() => replies().length >= 10, 30_000, 'ten replies');
    // Each hook heard the person and the other's first four replies; the replies after the 8th reached neither.
    await until(async () => (await listWebhooks(conv.magic_link, owner.credential)).every((h) => h.delivered === 5 && h.backlog!.messages === 0), 'both webhooks settled');
    expect(ra.deliveries.map((d) => d.body.speaker.stream_name)).toEqual(['person', 'echo-b', 'echo-b', 'echo-b', 'echo-b']);
    expect(rb.deliveries.map((d) => d.body.speaker.stream_name)).toEqual(['person', 'echo-a', 'echo-a', 'echo-a', 'echo-a']);
    await barrier(person);
    expect(replies()).toHaveLength(10);
  });

  it('a reply over the limit is not spoken and says why in the list; a redirect is a failed delivery, never followed', async () => {
    const { r, speaker, conv, owner } = await setup();
    r.answer = (d) => (d.body.text === 'big' ? { status: 200, body: 'x'.repeat(70 * 1024) } : { status: 302, body: '', type: 'text/plain' });
    speaker.send('big', { end: true });
    await waitFor(() => r.deliveries.length >= 1, 20_000, 'the first delivery');
    speaker.send('moved', { end: true });
    await until(async () => (await listWebhooks(conv.magic_link, owner.credential))[0]!.state === 'failing', 'the redirect to fail');
    const [listed] = await listWebhooks(conv.magic_link, owner.credential);
    expect(listed).toMatchObject({ delivered: 1, last_reply_error: { reason: 'reply_too_large' }, last_error: 'HTTP 302: redirects are not followed', backlog: { messages: 1 } });
    expect(r.deliveries.filter((d) => d.body.text === 'big')).toHaveLength(1);
    await barrier(speaker);
    expect(speaker.frames.filter((f) => f.type === 'token' && f.stream_id !== undefined && f.stream_name !== 'alice')).toHaveLength(0);
  });

  it('notify "mentions" delivers only utterances that name the webhook\'s stream', async () => {
    const { r, speaker } = await setup({ stream_name: 'bot', notify: 'mentions' });
    speaker.send('nothing for the bot', { end: true });
    speaker.send('mail bob@bot.example', { end: true });
    speaker.send('hey @bot, look', { end: true });
    await waitFor(() => r.deliveries.length >= 1, 20_000, 'the mention');
    speaker.send('@BOT again', { end: true });
    await waitFor(() => r.deliveries.length >= 2, 20_000, 'the second mention');
    expect(r.deliveries.map((d) => d.body.text)).toEqual(['hey @bot, look', '@BOT again']);
  });

  it('subscribe narrows deliveries to the named streams (the subscription filter)', async () => {
    const { r, conv, peer, speaker } = await setup({ subscribe: ['bob'] });
    const bob = open(conv.magic_link, { credential: peer.credential, streamName: 'bob' });
    await bob.joined;
    speaker.send('alice speaks', { end: true });
    bob.send('bob speaks', { end: true });
    speaker.send('alice again', { end: true });
    bob.send('bob again', { end: true });
    await waitFor(() => r.deliveries.length >= 2, 20_000, 'bob\'s utterances');
    await barrier(speaker);
    expect(r.deliveries.map((d) => d.body.text)).toEqual(['bob speaks', 'bob again']);
  });

  it('events "joined"/"left" are delivered only when asked for', async () => {
    const { r, conv, peer, speaker } = await setup({ events: ['joined', 'left'] });
    const other = open(conv.magic_link, { credential: peer.credential, streamName: 'bob' });
    await other.joined;
    speaker.send('not asked for', { end: true });
    await other.close();
    await waitFor(() => r.deliveries.some((d) => d.body.type === 'left'), 20_000, 'the leave');
    expect(r.deliveries.map((d) => `${d.body.type} ${d.body.speaker.stream_name}`)).toEqual(['joined alice', 'joined bob', 'left bob']);
  });

  it('a receiver that fails three times and then answers 2xx gets the same webhook-id each time, and the messages in order', async () => {
    const { r, speaker } = await setup();
    let failures = 0;
    r.answer = (d) => (d.body.text === 'm1' && failures++ < 3 ? { status: 503 } : { status: 200 });
    speaker.send('m1', { end: true });
    speaker.send('m2', { end: true });
    speaker.send('m3', { end: true });
    await waitFor(() => r.deliveries.length >= 6, 30_000, 'three failures and three deliveries');
    const ids = r.deliveries.map((d) => d.id);
    expect(r.deliveries.map((d) => d.body.text)).toEqual(['m1', 'm1', 'm1', 'm1', 'm2', 'm3']);
    expect(new Set(ids.slice(0, 4)).size).toBe(1);
    expect(new Set(ids).size).toBe(3);
    // Each retry is signed afresh (its own timestamp), never earlier than the one before.
    const stamps = r.deliveries.slice(0, 4).map((d) => d.timestamp);
    expect([...stamps].sort((x, y) => x - y)).toEqual(stamps);
  });

  it('a receiver that never answers is disabled after the failure budget, with its reason in the list; enable starts it again', async () => {
    const { r, speaker, conv, owner, hook } = await setup();
    r.answer = () => 'hang';
    speaker.send('anyone?', { end: true });
    await speaker.next((f) => f.type === 'stream_left' && f.stream_id === hook.stream_id, 30_000);
    const [listed] = await listWebhooks(conv.magic_link, owner.credential);
    expect(listed).toMatchObject({ state: 'disabled', disabled: { reason: 'failure_budget', last_error: `no answer within ${POLICY.timeoutMs} ms` }, backlog: { messages: 1 } });
    expect(r.deliveries.length).toBeGreaterThanOrEqual(2);
    expect(new Set(r.deliveries.map((d) => d.id)).size).toBe(1);
    r.answer = () => ({ status: 204 });
    const before = r.deliveries.length;
    expect((await enableWebhook(conv.magic_link, owner.credential, hook.webhook_id)).status).toBe(200);
    await speaker.next((f) => f.type === 'stream_joined' && f.stream_id === hook.stream_id, 20_000);
    await waitFor(() => r.deliveries.length > before, 20_000, 'the backlog after enable');
    expect(r.deliveries.at(-1)!.body.text).toBe('anyone?');
    // Its event lines (decision 0148): failures, one disablement, the delivery after enable — named by
    // webhook id, never by URL or secret.
    const lines = () => broker.output().split('\n').filter((l) => l.includes('{"ams_event"') && l.includes(hook.webhook_id));
    const named = (name: string) => lines().filter((l) => l.includes(`"ams_event":"${name}"`));
    await waitFor(() => named('webhook.delivered').length === 1, 20_000, 'the webhook.delivered line');
    expect(named('webhook.failed').length).toBeGreaterThanOrEqual(2);
    expect(named('webhook.disabled')).toHaveLength(1);
    expect(named('webhook.delivered')[0]).toContain('"status":204');
    for (const l of lines()) {
      expect(l).not.toContain(r.url);
      expect(l).not.toContain(hook.secret);
      expect(l).not.toContain('anyone?');
    }
  });

  it('the backlog is bounded: the oldest are dropped and the next delivery says how many', async () => {
    const { r, speaker, conv, owner } = await setup();
    r.answer = () => ({ status: 500 });
    speaker.send('u0', { end: true });
    await waitFor(() => r.deliveries.length >= 1, 20_000, 'the first attempt');
    for (let i = 1; i <= 9; i++) speaker.send(`u${i}`, { end: true });
    await barrier(speaker);
    // Ten held, five kept: the bound is reached once all ten have been handed over.
    await until(async () => (await listWebhooks(conv.magic_link, owner.credential))[0]!.backlog!.skipped === 5, 'the bound');
    const [listed] = await listWebhooks(conv.magic_link, owner.credential);
    expect(listed!.backlog).toMatchObject({ messages: POLICY.backlogMessages, skipped: 5 });
    // Attempts before this point were all answered 500 (whichever message was at the head then); from here every one succeeds.
    const from = r.deliveries.length;
    r.answer = () => ({ status: 204 });
    await waitFor(() => r.deliveries.some((d) => d.body.text === 'u9'), 30_000, 'the last one');
    const delivered = r.deliveries.slice(from);
    expect(delivered.map((d) => d.body.text)).toEqual(['u5', 'u6', 'u7', 'u8', 'u9']);
    expect(delivered[0]!.body.skipped).toBe(5);
    expect(delivered.slice(1).every((d) => d.body.skipped === undefined)).toBe(true);
  });

  it('bad registrations are refused with documented errors and leave nothing registered', async () => {
    const [owner, other] = await accounts(api, 2);
    const conv = await api.createConversation(owner);
    const r = await receiver();
    const refuse = async (link: string, credential: string | undefined, body: unknown, status: number, error: string) => {
      const res = await registerWebhook(link, credential, body);
      expect(res.status, JSON.stringify(body)).toBe(status);
      expect(res.body.error).toBe(error);
    };
    await refuse(conv.magic_link, owner.credential, { url: 'ftp://example.com/x' }, 400, 'invalid_webhook_url');
    await refuse(conv.magic_link, owner.credential, { url: 'http://example.com/x' }, 400, 'invalid_webhook_url');
    await refuse(conv.magic_link, owner.credential, { url: 'https://user:pw@example.com/x' }, 400, 'invalid_webhook_url');
    await refuse(conv.magic_link, owner.credential, { url: 'https://203.0.113.9/x' }, 400, 'invalid_webhook_url');
    await refuse(conv.magic_link, owner.credential, { url: `https://example.com/${'a'.repeat(2_100)}` }, 400, 'invalid_webhook_url');
    await refuse(conv.magic_link, owner.credential, { url: r.url, events: ['utterance', 'typing'] }, 400, 'invalid_webhook_events');
    await refuse(conv.magic_link, owner.credential, { url: r.url, notify: 'sometimes' }, 400, 'invalid_webhook_notify');
    await refuse(conv.magic_link, owner.credential, { url: r.url, subscribe: ['x', ''] }, 400, 'invalid_subscription');
    await refuse(conv.magic_link, owner.credential, { url: r.url, secret: 'whsec_mine' }, 400, 'unknown_webhook_field');
    await refuse(conv.observer_link, owner.credential, { url: r.url }, 403, 'read_only');
    await refuse(conv.magic_link, undefined, { url: r.url }, 401, 'missing_credential');
    const ok = await registerWebhook(conv.magic_link, owner.credential, { url: r.url, stream_name: 'taken' });
    expect(ok.status).toBe(201);
    await refuse(conv.magic_link, other!.credential, { url: r.url, stream_name: 'taken' }, 409, 'stream_name_conflict');
    for (let i = 0; i < 2; i++) expect((await registerWebhook(conv.magic_link, owner.credential, { url: r.url })).status).toBe(201);
    await refuse(conv.magic_link, owner.credential, { url: r.url }, 429, 'webhook_limit');
    expect(await listWebhooks(conv.magic_link, owner.credential)).toHaveLength(3);
    expect(await listWebhooks(conv.magic_link, other!.credential)).toHaveLength(0);
    expect((await deleteWebhook(conv.magic_link, other!.credential, ok.body.webhook_id)).status).toBe(404);
    const gone = await deleteWebhook(conv.magic_link, owner.credential, ok.body.webhook_id);
    expect(gone.status).toBe(200);
    expect(await listWebhooks(conv.magic_link, owner.credential)).toHaveLength(2);
  });

  it('the README\'s 20-line receiver verifies a delivery and its reply is spoken', async () => {
    const root = resolve(import.meta.dirname, '../..');
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const code = /```js\n(\/\/ receiver\.mjs\n[\s\S]*?)```/.exec(readme)?.[1];
    expect(code, 'the receiver in README.md').toBeDefined();
    expect(code!.trim().split('\n').length).toBeLessThanOrEqual(21);
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'ams-readme-receiver-'));
    symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
    writeFileSync(join(dir, 'receiver.mjs'), code!.replace('8788', String(port)));
    const [owner, peer] = await accounts(api, 2);
    const conv = await api.createConversation(owner);
    const reg = await registerWebhook(conv.magic_link, owner.credential, { url: `http://localhost:${port}/`, stream_name: 'helper' });
    expect(reg.status).toBe(201);
    const child = spawn(process.execPath, ['receiver.mjs'], { cwd: dir, env: { ...process.env, WEBHOOK_SECRET: reg.body.secret }, stdio: 'ignore' });
    try {
      const speaker = open(conv.magic_link, { credential: peer!.credential, streamName: 'alice' });
      await speaker.joined;
      speaker.send('three little words', { end: true });
      const reply = await speaker.next((f) => f.type === 'token' && f.stream_name === 'helper', 30_000);
      expect(reply).toMatchObject({ data: 'alice, you said 3 words.', end: true });
    } finally {
      child.kill();
    }
  });

  it('the broker SIGKILLed while a retry is pending and restarted on the same state still delivers', async () => {
    const { r, speaker } = await setup();
    r.answer = () => ({ status: 503 });
    speaker.send('survive the crash', { end: true });
    await waitFor(() => r.deliveries.length >= 1, 20_000, 'a failed attempt');
    await broker.kill();
    r.answer = () => ({ status: 204 });
    const failed = r.deliveries.length;
    broker = await startBroker({ stateDir: broker.stateDir, vars });
    await waitFor(() => r.deliveries.length > failed, 30_000, 'the retry after the restart');
    expect(r.deliveries.at(-1)!.body.text).toBe('survive the crash');
    expect(new Set(r.deliveries.map((d) => d.id)).size).toBe(1);
  });
});
