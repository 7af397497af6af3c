/**
 * The pure parts of webhooks: what a registration may ask for, which URLs
 * are called, how an answer becomes a reply, the retry schedule and its
 * development override, and the backlog's bound (over an in-process SQLite).
 */
import { describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { Backlog, bodyOf } from '../../src/conversation/webhooks/backlog';
import { newWebhookSecret } from '../../src/conversation/webhooks/deliver';
import { policyOf, PRODUCTION_POLICY, retryDelay } from '../../src/conversation/webhooks/policy';
import { LIMITS } from '../../src/protocol/limits';
import { checkWebhookUrl, parseWebhookRequest, replyOf } from '../../src/protocol/webhooks';
import { memorySql } from '../support/sqlite';

describe('a webhook registration body', () => {
  it('defaults to every utterance, and keeps what it was given', () => {
    expect(parseWebhookRequest({ url: 'https://hooks.example.com/in' }, false)).toEqual({ url: 'https://hooks.example.com/in', notify: 'all', events: ['utterance'] });
    expect(parseWebhookRequest({ url: 'https://hooks.example.com/in', stream_name: 'helper', notify: 'mentions', events: ['joined', 'utterance'] }, false))
      .toEqual({ url: 'https://hooks.example.com/in', stream_name: 'helper', notify: 'mentions', events: ['joined', 'utterance'] });
    expect(parseWebhookRequest({ url: 'https://hooks.example.com/in', subscribe: ['alice', 'bob', 'alice'] }, false)).toMatchObject({ subscribe: ['alice', 'bob'] });
  });

  it('refuses each bad field with its own code', () => {
    const code = (body: Record<string, unknown>) => (parseWebhookRequest({ url: 'https://a.example/x', ...body }, false) as { error?: string }).error;
    expect(code({ notify: 'sometimes' })).toBe('invalid_webhook_notify');
    expect(code({ notify: 3 })).toBe('invalid_webhook_notify');
    expect(code({ events: [] })).toBe('invalid_webhook_events');
    expect(code({ events: ['utterance', 'utterance'] })).toBe('invalid_webhook_events');
    expect(code({ events: ['typing'] })).toBe('invalid_webhook_events');
    expect(code({ events: 'utterance' })).toBe('invalid_webhook_events');
    expect(code({ stream_name: '-bad' })).toBe('invalid_stream_name');
    expect(code({ subscribe: [] })).toBe('invalid_subscription');
    expect(code({ subscribe: 'alice' })).toBe('invalid_subscription');
    expect(code({ subscribe: ['alice', 'bad name'] })).toBe('invalid_subscription');
    expect(code({ subscribe: Array.from({ length: 65 }, (_, i) => `s${i}`) })).toBe('invalid_subscription');
    expect(code({ secret: 'mine' })).toBe('unknown_webhook_field');
    expect(code({ url: undefined })).toBe('invalid_webhook_url');
  });
});

describe('which URLs a webhook may call', () => {
  const refused = (url: string, dev = false) => typeof checkWebhookUrl(url, dev) !== 'string';
  it('https with a host name only; never credentials, IP literals or over-long URLs', () => {
    expect(refused('https://hooks.example.com/a?token=x')).toBe(false);
    expect(refused('http://hooks.example.com/a')).toBe(true);
    expect(refused('ftp://hooks.example.com/a')).toBe(true);
    expect(refused('https://u:p@hooks.example.com/a')).toBe(true);
    expect(refused('https://u@hooks.example.com/a')).toBe(true);
    expect(refused('https://192.0.2.1/a')).toBe(true);
    expect(refused('https://[2001:db8::1]/a')).toBe(true);
    expect(refused('https://intranet/a')).toBe(true);
    expect(refused('not a url')).toBe(true);
    expect(refused(`https://hooks.example.com/${'a'.repeat(LIMITS.webhookUrlChars)}`)).toBe(true);
  });

  it('http only to localhost, and only on a development broker', () => {
    expect(refused('http://localhost:9000/hook')).toBe(true);
    expect(refused('http://localhost:9000/hook', true)).toBe(false);
    expect(refused('http://127.0.0.1:9000/hook', true)).toBe(true);
    expect(refused('http://example.com/hook', true)).toBe(true);
  });
});

describe('a receiver\'s answer as a reply', () => {
  it('text/plain as it stands, JSON {reply}, and nothing else', () => {
    expect(replyOf('text/plain; charset=utf-8', 'hi there')).toBe('hi there');
    expect(replyOf('application/json', '{"reply":"from json"}')).toBe('from json');
    expect(replyOf('application/json', '{"ok":true}')).toBeNull();
    expect(replyOf('application/json', '{"reply":42}')).toBeNull();
    expect(replyOf('application/json', 'not json')).toBeNull();
    expect(replyOf('text/html', '<p>hi</p>')).toBeNull();
    expect(replyOf(null, 'hi')).toBeNull();
    expect(replyOf('text/plain', '  \n')).toBeNull();
  });
});

describe('the retry schedule', () => {
  it('doubles from the base up to the cap, each delay scaled by 50–100 %', () => {
    const p = PRODUCTION_POLICY;
    expect(retryDelay(1, p, () => 1)).toBe(5_000);
    expect(retryDelay(2, p, () => 1)).toBe(10_000);
    expect(retryDelay(1, p, () => 0)).toBe(2_500);
    expect(retryDelay(30, p, () => 1)).toBe(LIMITS.webhookRetryCapMs);
    expect(retryDelay(1_000, p, () => 0.5)).toBe(LIMITS.webhookRetryCapMs * 0.75);
    for (let i = 0; i < 100; i++) {
      const d = retryDelay(3, p);
      expect(d).toBeGreaterThanOrEqual(10_000);
      expect(d).toBeLessThanOrEqual(20_000);
    }
  });

  it('reaches the 24-hour budget after dozens of attempts, not a handful', () => {
    let elapsed = 0;
    let attempts = 0;
    while (elapsed < LIMITS.webhookFailureBudgetMs) elapsed += retryDelay(++attempts, PRODUCTION_POLICY, () => 1);
    expect(attempts).toBeGreaterThan(20);
  });

  it('is shrunk by AMS_WEBHOOK_POLICY only on a development broker, and only by positive integers', () => {
    const given = JSON.stringify({ retryBaseMs: 10, budgetMs: 100, timeoutMs: -1, backlogMessages: 'x' });
    expect(policyOf({ AMS_ENV: 'production', AMS_WEBHOOK_POLICY: given })).toEqual(PRODUCTION_POLICY);
    expect(policyOf({ AMS_WEBHOOK_POLICY: given })).toEqual(PRODUCTION_POLICY);
    expect(policyOf({ AMS_ENV: 'development', AMS_WEBHOOK_POLICY: 'not json' })).toEqual(PRODUCTION_POLICY);
    expect(policyOf({ AMS_ENV: 'development', AMS_WEBHOOK_POLICY: given })).toEqual({ ...PRODUCTION_POLICY, retryBaseMs: 10, budgetMs: 100 });
  });
});

describe('the webhook secret and signature', () => {
  it('is a whsec_ secret that the standardwebhooks library verifies with', () => {
    const secret = newWebhookSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const wh = new Webhook(secret);
    const now = new Date();
    const body = '{"type":"utterance","text":"hi"}';
    const headers = { 'webhook-id': 'msg_1', 'webhook-timestamp': String(Math.floor(now.getTime() / 1000)), 'webhook-signature': wh.sign('msg_1', now, body) };
    expect(wh.verify(body, headers)).toEqual({ type: 'utterance', text: 'hi' });
    expect(() => new Webhook(newWebhookSecret()).verify(body, headers)).toThrow();
  });
});

describe('a webhook backlog', () => {
  const msg = (i: number, size = 10) => ({ id: `msg_${i}`, body: JSON.stringify({ text: `${i}`.padEnd(size, '.') }) });

  it('keeps arrival order, stores an id once, and drops the oldest past the count, telling the next one how many', async () => {
    const b = new Backlog(await memorySql());
    b.add([msg(1), msg(2), msg(2), msg(3)], 3, 1 << 20);
    expect(b.size()).toMatchObject({ n: 3, skipped: 0 });
    b.add([msg(4), msg(5)], 3, 1 << 20);
    expect(b.head()).toEqual({ id: 'msg_3', body: msg(3).body, skipped: 2 });
    b.add([msg(6)], 3, 1 << 20);
    // The dropped head's own count travels on: 1, 2 and 3 were all skipped before 4.
    expect(b.head()).toMatchObject({ id: 'msg_4', skipped: 3 });
    expect(JSON.parse(bodyOf(b.head()!))).toEqual({ text: '4.........', skipped: 3 });
    b.done('msg_4');
    expect(b.head()).toMatchObject({ id: 'msg_5', skipped: 0 });
    expect(bodyOf(b.head()!)).toBe(msg(5).body);
  });

  it('holds its bytes under the bound, keeping at least the newest message', async () => {
    const b = new Backlog(await memorySql());
    for (let i = 0; i < 20; i++) b.add([msg(i, 100)], 1_000, 500);
    const { n, bytes, skipped } = b.size();
    expect(bytes).toBeLessThanOrEqual(500);
    expect(n + skipped).toBe(20);
    b.add([msg(99, 2_000)], 1_000, 500);
    expect(b.size().n).toBe(1);
    expect(b.head()).toMatchObject({ id: 'msg_99', skipped: 20 });
  });
});
