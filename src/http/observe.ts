/** The event lines of the stream routes: what the conversation (or a shard) answered a connection (decision 0148). */
import { REFUSED_HEADER } from '../conversation/connections';
import { emit } from '../control/events';
import type { Env } from '../control/env';
import { CLOSE, type CloseReason } from '../protocol/close-codes';
import type { PathKind } from '../protocol/events';

/** Emits `connection.accepted` or `connection.refused` for a WebSocket or SSE answer, and returns it. */
export function observed(env: Env, ns: string, alias: string, path: PathKind, scope: 'write' | 'read' | undefined, res: Response, account?: string): Response {
  const refused = res.headers.get(REFUSED_HEADER) as CloseReason | null;
  if (refused) emit(env, 'connection.refused', { ns, alias, path, code: CLOSE[refused]?.code ?? refused });
  else if (res.status >= 400) emit(env, 'connection.refused', { ns, alias, path, code: res.status, status: res.status });
  else emit(env, 'connection.accepted', { ns, alias, path, scope: scope ?? 'read', ...(account ? { account } : {}) });
  return res;
}
