/**
 * Account credentials: `ams_sk_{namespace}.{43 base64url chars = 256 random bits}`.
 * The namespace inside routes a credential to its account object without a
 * global index; only a peppered hash (HMAC-SHA-256 keyed with the pepper) is stored.
 */
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { NAMESPACE_RE } from '../protocol/validate';
import { randomBytes, toBase64Url, toHex } from './encoding';

const PREFIX = 'ams_sk_';
const SECRET_CHARS = 43;

export function newCredential(namespace: string): string {
  return `${PREFIX}${namespace}.${toBase64Url(randomBytes(32))}`;
}

/** The namespace a well-formed credential belongs to, or undefined for anything else. */
export function credentialNamespace(credential: string): string | undefined {
  if (!credential.startsWith(PREFIX) || credential.length > PREFIX.length + 64 + SECRET_CHARS) return undefined;
  const dot = credential.indexOf('.', PREFIX.length);
  if (dot < 0) return undefined;
  const namespace = credential.slice(PREFIX.length, dot);
  const secret = credential.slice(dot + 1);
  if (!NAMESPACE_RE.test(namespace) || secret.length !== SECRET_CHARS || !/^[A-Za-z0-9_-]+$/.test(secret)) return undefined;
  return namespace;
}

/** The stored form: hex(HMAC-SHA-256(pepper, credential)). */
export function hashCredential(credential: string, pepper: string): string {
  const enc = new TextEncoder();
  return toHex(hmac(sha256, enc.encode(pepper), enc.encode(credential)));
}

/**
 * `Authorization: Bearer …` → the credential text; '' for a bearer header with
 * nothing usable; undefined when there is no header or it uses another scheme
 * (so Basic auth from a proxy does not hide a link's `?t=`).
 */
export function bearerOf(header: string | null | undefined): string | undefined {
  if (!header || !/^\s*Bearer(\s|$)/i.test(header)) return undefined;
  const m = /^\s*Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1] : '';
}
