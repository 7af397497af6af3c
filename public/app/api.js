// @ts-check
/** The control plane as the page uses it: demo accounts, conversations, inspect. */
import { parseLink } from './links.js';

export class ApiError extends Error {
  /** @param {number} status @param {string} code @param {string} message */
  constructor(status, code, message) {
    super(`${code}: ${message}`);
    this.status = status;
    this.code = code;
  }
}

/** @param {Response} res */
async function json(res) {
  /** @type {any} */
  let body = null;
  try {
    body = await res.json();
  } catch {
    // not JSON: reported below
  }
  if (!res.ok) throw new ApiError(res.status, body?.error ?? 'http_error', body?.message ?? `HTTP ${res.status}`);
  return body;
}

/** A namespace nobody is likely to hold: `demo-` and ten random base-36 characters. */
export function randomNamespace(prefix = 'demo') {
  const bytes = crypto.getRandomValues(new Uint8Array(10));
  return `${prefix}-${Array.from(bytes, (b) => (b % 36).toString(36)).join('')}`;
}

/**
 * @typedef {{ account_id: string, namespace: string, credential: string, created_at: string }} Account
 * @typedef {{ conversation_id: string, alias: string, magic_link: string, observer_link: string, stream_id: string, stream_name: string, epoch?: string }} Minted
 */

/**
 * Mints a fresh demo account under a random namespace (retried once if taken).
 * @param {string} [prefix]
 * @returns {Promise<Account>}
 */
export async function mintAccount(prefix) {
  for (let attempt = 0; ; attempt++) {
    try {
      const res = await fetch('/v1/accounts', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ namespace: randomNamespace(prefix) }),
      });
      return await json(res);
    } catch (err) {
      if (!(err instanceof ApiError) || err.code !== 'namespace_taken' || attempt > 0) throw err;
    }
  }
}

/**
 * @param {Account} account
 * @param {Record<string, unknown>} body
 * @returns {Promise<Minted>}
 */
export async function mintConversation(account, body) {
  const res = await fetch(`/v1/${account.namespace}/conversations`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${account.credential}` },
    body: JSON.stringify(body),
  });
  return json(res);
}

/**
 * The conversation as the link sees it (inspect with `?t=`): proves the link is good.
 * @param {string} link
 */
export async function inspect(link) {
  const parts = parseLink(link);
  if (!parts) throw new ApiError(400, 'invalid_magic_link', 'This address is not a magic link.');
  const url = `/v1/${encodeURIComponent(parts.ns)}/conversations/${encodeURIComponent(parts.alias)}?t=${encodeURIComponent(parts.t)}`;
  return json(await fetch(url));
}
