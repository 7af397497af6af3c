/**
 * How hard a webhook object tries (decision 0136): the timeout of one
 * delivery, the retry schedule (exponential, with jitter, driven by the
 * object's alarm) and the failure budget after which it is disabled, plus
 * the backlog's bound. Production uses `LIMITS`; a development broker may
 * shrink any of them with `AMS_WEBHOOK_POLICY` (JSON), so tests see a whole
 * schedule in seconds. Outside development that variable is ignored.
 */
import type { Env } from '../../control/env';
import { LIMITS } from '../../protocol/limits';
import { isJsonObject } from '../../protocol/validate';

export interface DeliveryPolicy {
  timeoutMs: number;
  retryBaseMs: number;
  retryCapMs: number;
  budgetMs: number;
  backlogMessages: number;
  backlogBytes: number;
}

export const PRODUCTION_POLICY: DeliveryPolicy = {
  timeoutMs: LIMITS.webhookTimeoutMs,
  retryBaseMs: LIMITS.webhookRetryBaseMs,
  retryCapMs: LIMITS.webhookRetryCapMs,
  budgetMs: LIMITS.webhookFailureBudgetMs,
  backlogMessages: LIMITS.webhookBacklogMessages,
  backlogBytes: LIMITS.webhookBacklogBytes,
};

/** The policy in force: production's, with a development broker's overrides (positive integers only) applied. */
export function policyOf(env: Pick<Env, 'AMS_ENV' | 'AMS_WEBHOOK_POLICY'>): DeliveryPolicy {
  if (env.AMS_ENV !== 'development' || !env.AMS_WEBHOOK_POLICY) return PRODUCTION_POLICY;
  let given: unknown;
  try {
    given = JSON.parse(env.AMS_WEBHOOK_POLICY);
  } catch {
    return PRODUCTION_POLICY;
  }
  if (!isJsonObject(given)) return PRODUCTION_POLICY;
  const out = { ...PRODUCTION_POLICY };
  for (const key of Object.keys(out) as (keyof DeliveryPolicy)[]) {
    const v = given[key];
    if (typeof v === 'number' && Number.isSafeInteger(v) && v > 0) out[key] = v;
  }
  return out;
}

/**
 * How long to wait after the `failures`-th failure in a row: the base,
 * doubling, capped, then scaled by a random 50–100 % (so receivers that
 * came back are not hit by every webhook at once).
 */
export function retryDelay(failures: number, policy: DeliveryPolicy, random: () => number = Math.random): number {
  const exp = Math.min(policy.retryCapMs, policy.retryBaseMs * 2 ** Math.min(Math.max(failures - 1, 0), 40));
  return Math.max(1, Math.round(exp * (0.5 + 0.5 * random())));
}
