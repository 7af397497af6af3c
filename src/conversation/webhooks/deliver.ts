/**
 * One delivery attempt, as the Standard Webhooks specification has it: a
 * POST of the JSON body with `webhook-id` (the message's, the same on every
 * retry), `webhook-timestamp` (seconds, this attempt's) and
 * `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`,
 * signed with the `standardwebhooks` library (plain JavaScript, so it runs in
 * workerd as it runs in Node; decision 0138). Redirects are not followed,
 * the whole attempt has a deadline, and at most `webhookResponseBytes` of the
 * answer are read.
 */
import { Webhook } from 'standardwebhooks';
import { readAtMost } from '../../control/encoding';
import { LIMITS } from '../../protocol/limits';
import { replyOf } from '../../protocol/webhooks';

export type Attempt =
  | { ok: true; status: number; reply: string | null; replyError?: 'reply_too_large' }
  /** `status` when the receiver answered (an event line reports it; `error` stays in the webhook's own state). */
  | { ok: false; error: string; status?: number };

/** A new secret in the Standard Webhooks form: `whsec_` + base64 of 32 random bytes. */
export function newWebhookSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return `whsec_${btoa(String.fromCharCode(...bytes))}`;
}

export async function attempt(url: string, secret: string, id: string, body: string, timeoutMs: number, now: Date = new Date()): Promise<Attempt> {
  const signature = new Webhook(secret).sign(id, now, body);
  let res: Response;
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    res = await fetch(url, {
      method: 'POST',
      body,
      redirect: 'manual',
      signal,
      headers: {
        'content-type': 'application/json',
        'user-agent': 'AMS-Webhooks/1',
        'webhook-id': id,
        'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
        'webhook-signature': signature,
      },
    });
  } catch (err) {
    return { ok: false, error: signal.aborted ? `no answer within ${timeoutMs} ms` : `could not connect: ${String((err as Error).message ?? err)}` };
  }
  if (res.status >= 300 && res.status < 400) {
    await res.body?.cancel().catch(() => {});
    return { ok: false, error: `HTTP ${res.status}: redirects are not followed`, status: res.status };
  }
  if (res.status < 200 || res.status >= 300) {
    await res.body?.cancel().catch(() => {});
    return { ok: false, error: `HTTP ${res.status}`, status: res.status };
  }
  try {
    const text = await readCapped(res, LIMITS.webhookResponseBytes);
    if (text === null) return { ok: true, status: res.status, reply: null, replyError: 'reply_too_large' };
    return { ok: true, status: res.status, reply: replyOf(res.headers.get('content-type'), text) };
  } catch {
    // The status said yes; a body cut off by the deadline is only a lost reply.
    return { ok: true, status: res.status, reply: null };
  }
}

/** The body as text, or null when it is longer than `cap` bytes (reading stops there). */
async function readCapped(res: Response, cap: number): Promise<string | null> {
  if (!res.body) return '';
  const all = await readAtMost(res.body, cap);
  return all === null ? null : new TextDecoder().decode(all);
}
