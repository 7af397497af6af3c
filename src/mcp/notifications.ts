/**
 * `notifications/ams/*`: the frames an MCP session has not been told about
 * yet, as MCP notifications. Params are the wire frame without `type`; the
 * session's `notified` cursor makes the GET stream and the ride-along on tool
 * responses tell each frame once.
 */
import { CLOSE, type CloseReason } from '../protocol/close-codes';
import type { JsonObject } from '../protocol/frames';
import type { Received } from '../conversation/members/rpc';

export interface AmsNotification {
  method: string;
  params: Record<string, unknown>;
}

export const NOTIFICATION_PREFIX = 'notifications/ams/';

export function frameNotification(frame: JsonObject): AmsNotification {
  const { type, ...params } = frame;
  return { method: `${NOTIFICATION_PREFIX}${String(type)}`, params };
}

/** What to announce from a read past `notified`, and where the cursor ends. */
export function notificationsFor(r: Received, notified: number): { list: AmsNotification[]; notified: number } {
  const list: AmsNotification[] = [];
  if (r.truncated && r.truncated.to_seq > notified) list.push({ method: `${NOTIFICATION_PREFIX}truncated`, params: { ...r.truncated } });
  let at = notified;
  for (const f of r.frames) {
    const seq = f.seq as number;
    if (seq <= at) continue;
    list.push(frameNotification(f));
    at = seq;
  }
  return { list, notified: Math.max(at, r.next_since) };
}

/** The membership ended on the conversation's side (revoked, deleted, taken over). */
export function closedNotification(reason: string, message: string, at: { conversation_id: string; stream_id: string | null }): AmsNotification {
  const code = Object.hasOwn(CLOSE, reason) ? CLOSE[reason as CloseReason].code : undefined;
  return { method: `${NOTIFICATION_PREFIX}closed`, params: { ...at, reason, ...(code !== undefined ? { code } : {}), message } };
}
