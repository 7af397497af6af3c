/**
 * Account creation is limited per client (`CF-Connecting-IP`; an IPv6 client
 * by its /64). The counter lives in a Durable Object per client key, so it
 * holds across Worker isolates. A local broker (AMS_ENV=development) does not
 * limit its own machine (loopback or no client address); a deployment limits
 * everyone, and requests without an address share one bucket.
 */
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { app } from '../../src/app';
import type { Env } from '../../src/control/env';
import { LIMITS } from '../../src/protocol/limits';
import { expectError, uniqueName } from './control-helpers';

const base = env as unknown as Env;
const prod: Env = { ...base, AMS_ENV: 'production', AMS_CREDENTIAL_PEPPER: 'p'.repeat(40), AMS_LINK_SECRET: 's'.repeat(40) };

let octet = Math.floor(Math.random() * 200);
/** A documentation address (TEST-NET-3) nobody else in this run uses. */
const freshIp = () => `203.0.113.${(octet++ % 254) + 1}`;

function create(ip: string | undefined, bindings: Env = base, namespace = uniqueName('rate')): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (ip !== undefined) headers['cf-connecting-ip'] = ip;
  return Promise.resolve(app.fetch(new Request('https://ams.test/v1/accounts', { method: 'POST', headers, body: JSON.stringify({ namespace }) }), bindings));
}

async function exhaust(ip: string | undefined, bindings: Env = base): Promise<void> {
  for (let i = 0; i < LIMITS.signupBurst; i++) expect((await create(ip, bindings)).status, `account ${i + 1}`).toBe(201);
}

describe('account creation per client', () => {
  it(`allows a burst of ${LIMITS.signupBurst}, then answers 429 signup_rate_limited with Retry-After, creating nothing`, async () => {
    const ip = freshIp();
    await exhaust(ip);
    const namespace = uniqueName('rate-refused');
    const res = await create(ip, base, namespace);
    const retryAfter = Number(res.headers.get('retry-after'));
    await expectError(res, 429, 'signup_rate_limited');
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(Math.ceil(3600 / LIMITS.signupPerHour));
    // The refused namespace was not taken: another client gets it.
    expect((await create(freshIp(), base, namespace)).status).toBe(201);
  });

  it('counts every attempt, including refused bodies and wrong signup tokens', async () => {
    const ip = freshIp();
    const gated: Env = { ...base, AMS_SIGNUP_TOKEN: 'gate-0123456789' };
    for (let i = 0; i < LIMITS.signupBurst; i++) {
      const res = await create(ip, gated);
      expect(res.status).toBe(403);
    }
    await expectError(await create(ip, gated), 429, 'signup_rate_limited');
  });

  it('keeps clients apart, and treats one IPv6 /64 as one client', async () => {
    const a = freshIp();
    await exhaust(a);
    await expectError(await create(a), 429, 'signup_rate_limited');
    expect((await create(freshIp())).status).toBe(201);
    const prefix = `2001:db8:${Math.floor(Math.random() * 0xffff).toString(16)}:1`;
    await exhaust(`${prefix}::1`);
    await expectError(await create(`${prefix}:0:0:0:2`), 429, 'signup_rate_limited');
    expect((await create(`${prefix}:0:0:0:ffff`.replace(':1:', ':2:'))).status).toBe(201);
  });

  it('in a deployment, limits loopback and requests without a client address too (one shared bucket)', async () => {
    await exhaust(undefined, prod);
    await expectError(await create(undefined, prod), 429, 'signup_rate_limited');
    await exhaust('127.0.0.1', prod);
    await expectError(await create('127.0.0.1', prod), 429, 'signup_rate_limited');
  });

  it('locally (AMS_ENV=development), does not limit its own machine', async () => {
    for (let i = 0; i < LIMITS.signupBurst + 5; i++) {
      expect((await create(undefined)).status).toBe(201);
      expect((await create('127.0.0.1')).status).toBe(201);
      expect((await create('::1')).status).toBe(201);
    }
  });
});
