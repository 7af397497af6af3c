/**
 * Magic-link tokens: signed capabilities, verified without touching storage.
 *
 *   t = {scope}{generation, base36} "." {conversation id without "conv_"} "." {expiry, base36 unix seconds, or empty} "." {epoch} "." {tag}
 *   tag = base64url(first 16 bytes of HMAC-SHA-256(link secret, "ams-link-v2\n" ns "\n" alias "\n" scope gen "\n" conv "\n" exp "\n" epoch))
 *
 * The namespace and alias come from the URL the token is presented on, so a
 * token is valid only at its own conversation's address. The epoch is new at
 * every mint, so a link never outlives the conversation it was issued for,
 * even when a deleted conversation is minted again under the same id
 * (decision 0105). Tokens without the epoch (`ams-link-v1`, four parts) are
 * still verified; the conversation accepts them only if it was minted before
 * links carried the epoch.
 */
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import type { Scope } from '../protocol/frames';
import { constantTimeEqual, fromBase64Url, toBase64Url } from './encoding';

export interface LinkClaims {
  conversation_id: string;
  scope: Scope;
  generation: number;
  /** Unix seconds, or undefined for a link that does not expire. */
  expires_at?: number;
  /** The epoch of the mint it was issued under; undefined on a token of the first format. */
  epoch?: string;
}

const TAG_BYTES = 16;

function tagOf(secret: string, ns: string, alias: string, head: string, conv: string, exp: string, epoch?: string): Uint8Array {
  const enc = new TextEncoder();
  const message = epoch === undefined ? `ams-link-v1\n${ns}\n${alias}\n${head}\n${conv}\n${exp}` : `ams-link-v2\n${ns}\n${alias}\n${head}\n${conv}\n${exp}\n${epoch}`;
  return hmac(sha256, enc.encode(secret), enc.encode(message)).subarray(0, TAG_BYTES);
}

export function signLink(secret: string, ns: string, alias: string, claims: LinkClaims): string {
  const head = `${claims.scope === 'write' ? 'w' : 'r'}${claims.generation.toString(36)}`;
  const conv = claims.conversation_id.replace(/^conv_/, '');
  const exp = claims.expires_at === undefined ? '' : claims.expires_at.toString(36);
  const tag = toBase64Url(tagOf(secret, ns, alias, head, conv, exp, claims.epoch));
  return claims.epoch === undefined ? `${head}.${conv}.${exp}.${tag}` : `${head}.${conv}.${exp}.${claims.epoch}.${tag}`;
}

export type LinkCheck = { ok: true; claims: LinkClaims } | { ok: false; why: 'malformed' | 'bad_signature' | 'expired' };

/** Verifies a token presented at `/{ns}/conversations/{alias}`; `now` in unix seconds. */
export function verifyLink(secret: string, ns: string, alias: string, token: string, now: number): LinkCheck {
  const parts = token.split('.');
  if ((parts.length !== 4 && parts.length !== 5) || token.length > 200) return { ok: false, why: 'malformed' };
  const [head, conv, exp] = parts;
  const epoch = parts.length === 5 ? parts[3] : undefined;
  const tag = parts[parts.length - 1];
  if (!/^[wr][0-9a-z]{1,8}$/.test(head) || !/^[0-9A-Za-z]{26,64}$/.test(conv) || !/^[0-9a-z]{0,10}$/.test(exp) || (epoch !== undefined && !/^[0-9a-z]{1,40}$/.test(epoch))) {
    return { ok: false, why: 'malformed' };
  }
  const given = fromBase64Url(tag);
  // Only the canonical encoding counts: the last base64url character has spare bits that must not vary.
  if (!given || given.length !== TAG_BYTES || toBase64Url(given) !== tag) return { ok: false, why: 'malformed' };
  if (!constantTimeEqual(given, tagOf(secret, ns, alias, head, conv, exp, epoch))) return { ok: false, why: 'bad_signature' };
  const expires_at = exp === '' ? undefined : parseInt(exp, 36);
  if (expires_at !== undefined && expires_at <= now) return { ok: false, why: 'expired' };
  return {
    ok: true,
    claims: { conversation_id: `conv_${conv}`, scope: head[0] === 'w' ? 'write' : 'read', generation: parseInt(head.slice(1), 36), expires_at, ...(epoch !== undefined ? { epoch } : {}) },
  };
}

/** The magic link for a conversation, on the host the request came to. */
export function magicLink(origin: string, ns: string, alias: string, token: string): string {
  return `${origin}/${ns}/conversations/${alias}?t=${token}`;
}
