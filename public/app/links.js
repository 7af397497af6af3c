// @ts-check
import { joinLines } from './protocol.js';
/**
 * A magic link is opaque to clients except for one rule: routes hang off its
 * path (`/connect`, `/events`, `/tokens`, `/history`) and keep its query.
 */

/**
 * The namespace and alias a link addresses, or null when it is not a link.
 * @param {string} link
 * @returns {{ origin: string, ns: string, alias: string, t: string } | null}
 */
export function parseLink(link) {
  let url;
  try {
    url = new URL(link);
  } catch {
    return null;
  }
  const m = /^\/([^/]+)\/conversations\/([^/]+)\/?$/.exec(url.pathname);
  if (!m) return null;
  return { origin: url.origin, ns: decodeURIComponent(m[1]), alias: decodeURIComponent(m[2]), t: url.searchParams.get('t') ?? '' };
}

/**
 * `{link path}/{route}?t=…&params`; with `ws` the scheme becomes ws:/wss:.
 * @param {string} link
 * @param {string} route
 * @param {Record<string, string | number | undefined>} [params]
 * @param {boolean} [ws]
 */
export function routeUrl(link, route, params = {}, ws = false) {
  const url = new URL(link);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/${route}`;
  for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, String(v));
  if (ws) url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.toString();
}

/**
 * The exact lines that bring an agent into the conversation: the broker's own
 * (src/protocol/join-lines.ts, shipped in protocol.js), for a write link.
 * @param {string} link the magic link (write scope)
 * @param {string} [credential] a credential for the agent (never the page's own)
 * @returns {{ id: string, label: string, text: string }[]}
 */
export function agentCommands(link, credential) {
  return joinLines(link, 'write', credential);
}
