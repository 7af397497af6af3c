/**
 * A conversation link as the command line takes it: `{origin}/{ns}/conversations/{alias}?t=…`
 * (PROTOCOL.md §3). The host is the link's own, so no `--host` is needed; the
 * token stays opaque.
 */
import { usageError } from './errors';

export interface Link {
  url: string;
  origin: string;
  namespace: string;
  alias: string;
  token: string;
}

const PATH = /^\/([a-z0-9][a-z0-9-]{0,62})\/conversations\/([a-z0-9][a-z0-9-]{0,62})\/?$/;

export function parseLink(text: string): Link {
  const bad = (why: string) => usageError(`not a conversation link (${why}): expected {origin}/{namespace}/conversations/{alias}?t={token}`);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw bad('not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw bad(`${url.protocol} is not http: or https:`);
  const m = PATH.exec(url.pathname);
  if (!m) throw bad('wrong path');
  const token = url.searchParams.get('t');
  if (!token) throw bad('no t= token');
  return { url: url.toString(), origin: url.origin, namespace: m[1]!, alias: m[2]!, token };
}
