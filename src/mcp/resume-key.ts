/**
 * `resume_key`: a signed, secret capability to continue one membership — the
 * same account, the same stream (or observer seat), the same recv cursor — from
 * another MCP session. It is HMAC-SHA-256 under the link secret with its own
 * domain label, so a magic-link token can never pass for one or the reverse.
 *
 *   amsrk_{base64url(JSON claims)}.{base64url(first 16 bytes of the tag)}
 *
 * Claims are `[2, ns, alias, conversation_id, member_id, account_id, generation, epoch, expires_at|null]`
 * (decisions 0104, 0105), or, for a membership of an account that has a credential,
 * `[3, …the same…, account namespace, credential generation]` (decision 0146): a rotation revokes it.
 * Keys of the first format (`[1, …, generation]`) still verify, without epoch or expiry.
 */
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { accountStub } from '../control/account-stub';
import { constantTimeEqual, fromBase64Url, toBase64Url } from '../control/encoding';
import type { Env } from '../control/env';

export interface ResumeClaims {
  ns: string;
  alias: string;
  conversation_id: string;
  /** The stream id for a writer, an `obs_` id for an observer seat. */
  member_id: string;
  /** The identity the membership acts as (null for observers). */
  account_id: string | null;
  /** The link generation it was issued under: a rotation revokes it too. */
  generation: number;
  /** The epoch of the mint it was issued under: a new mint at this address revokes it (absent on keys of the first format). */
  epoch?: string;
  /** When the magic link it descends from expires (unix seconds); the key expires with it. */
  expires_at?: number;
  /** The account credential it descends from: its namespace and generation (absent for anonymous identities and older keys). */
  credential?: CredentialClaim;
}

export interface CredentialClaim {
  ns: string;
  generation: number;
}

const PREFIX = 'amsrk_';
const TAG_BYTES = 16;
const MAX_CHARS = 600;
const enc = new TextEncoder();

function tagOf(secret: string, body: string): Uint8Array {
  return hmac(sha256, enc.encode(secret), enc.encode(`ams-resume-v1\n${body}`)).subarray(0, TAG_BYTES);
}

export function signResumeKey(secret: string, c: ResumeClaims): string {
  const v2 = [c.ns, c.alias, c.conversation_id, c.member_id, c.account_id, c.generation, c.epoch, c.expires_at ?? null];
  const claims = c.epoch === undefined
    ? [1, c.ns, c.alias, c.conversation_id, c.member_id, c.account_id, c.generation]
    : c.credential ? [3, ...v2, c.credential.ns, c.credential.generation] : [2, ...v2];
  const body = toBase64Url(enc.encode(JSON.stringify(claims)));
  return `${PREFIX}${body}.${toBase64Url(tagOf(secret, body))}`;
}

/** The claims of a genuine key, or undefined for anything else. */
export function verifyResumeKey(secret: string, key: string): ResumeClaims | undefined {
  if (typeof key !== 'string' || !key.startsWith(PREFIX) || key.length > MAX_CHARS) return undefined;
  const [body, tag, extra] = key.slice(PREFIX.length).split('.');
  if (extra !== undefined || !body || !tag) return undefined;
  const given = fromBase64Url(tag);
  // Only the canonical encoding counts: the last base64url character has spare bits that must not vary.
  if (!given || given.length !== TAG_BYTES || toBase64Url(given) !== tag || !constantTimeEqual(given, tagOf(secret, body))) return undefined;
  const bytes = fromBase64Url(body);
  if (!bytes) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return undefined;
  }
  if (!Array.isArray(v) || !((v[0] === 1 && v.length === 7) || (v[0] === 2 && v.length === 9) || (v[0] === 3 && v.length === 11))) return undefined;
  const [, ns, alias, conversation_id, member_id, account_id, generation, epoch, expires_at, credNs, credGeneration] = v as unknown[];
  if (typeof ns !== 'string' || typeof alias !== 'string' || typeof conversation_id !== 'string' || typeof member_id !== 'string') return undefined;
  if (account_id !== null && typeof account_id !== 'string') return undefined;
  if (typeof generation !== 'number') return undefined;
  if (v[0] === 1) return { ns, alias, conversation_id, member_id, account_id, generation };
  if (typeof epoch !== 'string' || (expires_at !== null && typeof expires_at !== 'number')) return undefined;
  const claims: ResumeClaims = { ns, alias, conversation_id, member_id, account_id, generation, epoch, ...(expires_at !== null ? { expires_at } : {}) };
  if (v[0] === 2) return claims;
  if (typeof credNs !== 'string' || typeof credGeneration !== 'number') return undefined;
  return { ...claims, credential: { ns: credNs, generation: credGeneration } };
}

/** A key that descends from an account credential holds only while that credential is the account's current one (decision 0146). */
export async function credentialHolds(env: Env, key: ResumeClaims): Promise<boolean> {
  if (!key.credential) return true;
  return (await accountStub(env, key.credential.ns).credentialGeneration()) === key.credential.generation;
}
