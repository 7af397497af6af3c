/** The Worker's bindings and the secrets it runs with. */
import { AmsError } from '../protocol/errors';
import type { AccountObject } from './account-object';

/**
 * The bindings. The classes of the conversation and MCP session objects live
 * in layers above this one, so their bindings are typed where those classes
 * are, by their stub modules (conversation/conversation-stub.ts, mcp/session-stub.ts).
 */
export interface Env {
  ACCOUNTS: DurableObjectNamespace<AccountObject>;
  CONVERSATIONS: DurableObjectNamespace;
  /** One object per MCP session, named by its session id. */
  MCP_SESSIONS: DurableObjectNamespace;
  /** Audience shards: the read-only listeners of a conversation, `{namespace}/{alias}#{n}`. */
  AUDIENCE: DurableObjectNamespace;
  /** One object per client key, counting what the client creates (src/control/client-limit.ts). */
  CLIENT_LIMITS: DurableObjectNamespace;
  /** One object per webhook, named by its id: its backlog, its retries, its secret (decision 0135). */
  WEBHOOKS: DurableObjectNamespace;
  ASSETS?: Fetcher;
  /** Workers Analytics Engine dataset for the event counters (decision 0148); absent in local runs and tests. */
  AMS_METRICS?: AnalyticsEngineDataset;
  /** Only "development" (set by `npm start` and the test harnesses, never in wrangler.toml) may fall back to development values. */
  AMS_ENV?: string;
  AMS_CREDENTIAL_PEPPER?: string;
  AMS_LINK_SECRET?: string;
  /** When set, `POST /v1/accounts` needs `X-AMS-Signup-Token` with this value. */
  AMS_SIGNUP_TOKEN?: string;
  /** Development only: JSON overriding the webhook delivery policy (timeouts, retry schedule, budget, backlog bound; src/conversation/webhooks/policy.ts). */
  AMS_WEBHOOK_POLICY?: string;
}

/** Development secrets: public, so any link or credential made with them is worthless outside a laptop. */
const DEV_PEPPER = 'ams-development-pepper-do-not-deploy';
const DEV_LINK_SECRET = 'ams-development-link-secret-do-not-deploy';
const MIN_SECRET_CHARS = 32;

export interface Secrets {
  pepper: string;
  linkSecret: string;
  development: boolean;
}

let warned = false;

/**
 * The secrets in force, or `misconfigured` when they are missing. Fails
 * closed: development values need `AMS_ENV=development`, which only local
 * runs set, so a deployment nobody configured never runs on public keys.
 */
export function secretsOf(env: Env): Secrets {
  const pepper = env.AMS_CREDENTIAL_PEPPER ?? '';
  const linkSecret = env.AMS_LINK_SECRET ?? '';
  if (pepper.length >= MIN_SECRET_CHARS && linkSecret.length >= MIN_SECRET_CHARS) {
    return { pepper, linkSecret, development: false };
  }
  if (env.AMS_ENV !== 'development') {
    throw new AmsError('misconfigured');
  }
  if (!warned) {
    warned = true;
    console.warn('AMS: using development secrets (AMS_CREDENTIAL_PEPPER / AMS_LINK_SECRET unset) — fine locally, never in production.');
  }
  return { pepper: pepper || DEV_PEPPER, linkSecret: linkSecret || DEV_LINK_SECRET, development: true };
}

/**
 * What a stub of an object of class `T` answers: each public method, its
 * result awaited. Written out here because the runtime's own stub type maps
 * every value through its serialization types, which recursive JSON (metadata)
 * makes too deep for the compiler (decisions/0076).
 */
export type Remote<T> = {
  [K in keyof T as T[K] extends (...args: never[]) => unknown ? K : never]: T[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : never;
};
