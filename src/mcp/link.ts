/** Reading a magic link an agent passes to `ams_join`: where it points and its token. */
import { ALIAS_RE, NAMESPACE_RE } from '../protocol/validate';

export interface LinkAddress {
  ns: string;
  alias: string;
  t: string;
}

/**
 * Accepts the link as minted and the variants agents copy around: a trailing
 * slash, `/mcp`, `/connect`, `/events` after the alias, `ws(s)://` schemes.
 * Returns undefined for anything that names no conversation or has no `t`.
 */
export function parseMagicLink(text: string): LinkAddress | undefined {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    return undefined;
  }
  const m = /^\/([^/]+)\/conversations\/([^/]+)(?:\/(?:mcp|connect|events))?\/?$/.exec(url.pathname);
  const t = url.searchParams.get('t');
  if (!m || !t) return undefined;
  const [, ns, alias] = m;
  if (!NAMESPACE_RE.test(ns) || !ALIAS_RE.test(alias)) return undefined;
  return { ns, alias, t };
}
