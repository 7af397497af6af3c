/**
 * Per-client limits on what a client can make the broker create (accounts).
 * A client is its `CF-Connecting-IP` (set by Cloudflare's edge on every
 * request, so a client cannot choose it); an IPv6 client is its /64, which
 * one host usually holds whole. The counter is a token bucket in one Durable
 * Object per client key, so every Worker isolate everywhere counts against
 * the same bucket (decision 0091).
 *
 * A local broker (`AMS_ENV=development`) does not limit its own machine:
 * requests from loopback or with no address (the test pool). A deployment
 * limits everyone; requests with no address there share one bucket.
 */
import { DurableObject } from 'cloudflare:workers';
import { errorResponse } from '../protocol/errors';
import { LIMITS } from '../protocol/limits';
import type { Env } from './env';

interface Bucket {
  tokens: number;
  at: number;
}

export interface Verdict {
  ok: boolean;
  /** Whole seconds until the next attempt can succeed (when refused). */
  retryAfter: number;
}

export class ClientLimitObject extends DurableObject<Env> {
  /** Takes one attempt from the bucket (capacity `burst`, refilled at `perHour`). */
  async take(burst: number, perHour: number): Promise<Verdict> {
    const now = Date.now();
    const msPerToken = 3_600_000 / perHour;
    const saved = await this.ctx.storage.get<Bucket>('bucket');
    const tokens = Math.min(burst, saved ? saved.tokens + (now - saved.at) / msPerToken : burst);
    if (tokens < 1) return { ok: false, retryAfter: Math.max(1, Math.ceil(((1 - tokens) * msPerToken) / 1000)) };
    await this.ctx.storage.put<Bucket>('bucket', { tokens: tokens - 1, at: now });
    // Forget the client once its bucket is full again: an idle client costs no storage.
    await this.ctx.storage.setAlarm(now + (burst - tokens + 1) * msPerToken);
    return { ok: true, retryAfter: 0 };
  }

  override async alarm(): Promise<void> {
    await this.ctx.storage.deleteAll();
  }
}

const LOOPBACK = /^(127\.|::1$|::ffff:127\.)/i;

/** The key a request's client is counted under, or null for a local broker's own machine. */
export function clientKey(request: Request, env: Env): string | null {
  const ip = (request.headers.get('cf-connecting-ip') ?? '').trim().toLowerCase();
  const local = env.AMS_ENV === 'development';
  if (!ip) return local ? null : 'no-address';
  if (local && LOOPBACK.test(ip)) return null;
  if (!ip.includes(':')) return `v4:${ip}`;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(ip);
  if (mapped) return `v4:${mapped[1]}`;
  return `v6:${ipv6Prefix64(ip)}`;
}

/** The first four groups of an IPv6 address, expanded (`2001:db8::1` → `2001:db8:0:0`). */
export function ipv6Prefix64(ip: string): string {
  const [head, tail] = ip.split('::');
  const left = head ? head.split(':') : [];
  const right = tail === undefined ? [] : tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...new Array(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return groups.slice(0, 4).map((g) => (g.replace(/^0+(?=.)/, '') || '0')).join(':');
}

/** Takes one attempt at `what` (a bucket of its own per client); null when the client is not limited (a local broker's own machine). */
export async function takeForClient(env: Env, request: Request, what: string, burst: number, perHour: number): Promise<Verdict | null> {
  const key = clientKey(request, env);
  if (key === null) return null;
  const stub = env.CLIENT_LIMITS.get(env.CLIENT_LIMITS.idFromName(`${what}/${key}`)) as unknown as { take(burst: number, perHour: number): Promise<Verdict> };
  return stub.take(burst, perHour);
}

/** Counts one account-creation attempt for the request's client: the `429 signup_rate_limited` answer when over, else null. */
export async function takeSignup(env: Env, request: Request): Promise<Response | null> {
  const verdict = await takeForClient(env, request, 'signup', LIMITS.signupBurst, LIMITS.signupPerHour);
  if (verdict === null || verdict.ok) return null;
  return errorResponse('signup_rate_limited', `This client has created too many accounts; try again in ${verdict.retryAfter} s.`, { 'retry-after': String(verdict.retryAfter) });
}
