/**
 * The HTTP side of the stream plane, inside the conversation object: the SSE
 * tail (`GET …/events`), the batch emit (`POST …/tokens`) and the history
 * page (`GET …/history`). Plain functions over a `Conversation`: the object
 * shell only routes to them.
 */
import { errorResponse, type HttpErrorCode } from '../protocol/errors';
import type { JsonObject } from '../protocol/frames';
import { LIMITS } from '../protocol/limits';
import { claimsValid, type Admission } from './admission';
import { withChain } from '../protocol/chain';
import { SseConnection } from './connections';
import type { Conversation } from './conversation';
import type { EmitInput, JoinRequest } from './join';
import { planResume } from './resume';
import { utf8Length } from './wire';
import { filterOf, passesJson } from '../protocol/subscription';

/** Why an HTTP stream request may not proceed: no conversation, a bad link, or (to write) no writer's credential. */
function refusal(conv: Conversation, a: Admission, needWrite: boolean): HttpErrorCode | undefined {
  const r = conv.record;
  if (!r) return 'conversation_not_found';
  if (!claimsValid(a.claims, r)) return 'invalid_magic_link';
  if (!needWrite) return undefined;
  if (a.claims.scope !== 'write') return 'read_only';
  if (a.account.status === 'missing') return 'missing_credential';
  if (a.account.status === 'invalid') return 'invalid_credential';
  return undefined;
}

/** Opens an SSE tail: an observer admitted like any connection; `gone` runs when its reader goes away. */
export function openEvents(conv: Conversation, a: Admission, gone: (c: SseConnection) => void): Response {
  const bad = refusal(conv, a, false);
  if (bad) return errorResponse(bad);
  if (a.subscribe_invalid !== undefined) return errorResponse('invalid_subscription', a.subscribe_invalid);
  if (a.since_invalid) return errorResponse('invalid_cursor');
  const req: JoinRequest = {
    accountId: null, scope: 'read', generation: a.claims!.generation, selfSubscribe: false, chain: a.integrity,
    cursor: { since: a.since, epoch: a.epoch }, ...(a.subscribe_streams ? { streams: a.subscribe_streams } : {}),
  };
  const outcome = conv.decideJoin(req);
  if (!outcome.ok) {
    return outcome.reason === 'invalid_cursor' ? errorResponse('invalid_cursor', `since is beyond the head (${conv.head.seq}).`) : errorResponse('conversation_full');
  }
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  const conn = new SseConnection(writable.getWriter(), req.generation, a.integrity, gone, a.claims!.expires_at, a.subscribe_streams);
  conv.admit(conn, req, outcome);
  return new Response(readable, {
    headers: {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      'x-accel-buffering': 'no',
    },
  });
}

/** Emits a batch all-or-nothing on the caller's stream, chosen by the same rule as a connection's. */
export function postTokens(conv: Conversation, a: Admission, body: unknown): Response {
  const bad = refusal(conv, a, true);
  if (bad) return errorResponse(bad);
  const { stream_name, stream_metadata, tokens } = body as { stream_name?: string; stream_metadata?: JsonObject; tokens: EmitInput[] };
  const accountId = (a.account as { account_id: string }).account_id;
  const choice = conv.streamForEmit(accountId, stream_name, stream_metadata, a.identity);
  if (!choice.ok) {
    // An HTTP emit holds no stream, so the limits it can meet are on registered streams (the account's, the conversation's).
    return choice.reason === 'stream_name_conflict'
      ? errorResponse('stream_name_conflict')
      : errorResponse('concurrency_limit', `The account has ${LIMITS.streamsRegisteredPerAccount} streams in this conversation, none quiet for ${LIMITS.streamRetireIdleMs / 1000} s (or the conversation holds too many streams).`);
  }
  const stream = choice.stream;
  const results = conv.emitBatch(stream, tokens);
  if (!Array.isArray(results)) {
    return results.reason === 'rate_limited' ? errorResponse('rate_limited') : errorResponse('invalid_ref');
  }
  return Response.json({
    stream_id: stream.stream_id,
    stream_name: stream.stream_name,
    seqs: results.map((r) => (r.ok ? r.seq : -1)),
    duplicates: results.filter((r) => r.ok && r.duplicate).length,
  });
}

/** One page of the log after `since`, as the history API returns it. */
export function historyPage(conv: Conversation, a: Admission, url: URL): Response {
  const bad = refusal(conv, a, false);
  if (bad) return errorResponse(bad);
  if (a.subscribe_invalid !== undefined) return errorResponse('invalid_subscription', a.subscribe_invalid);
  if (a.since_invalid) return errorResponse('invalid_cursor');
  const limitText = url.searchParams.get('limit');
  const limit = limitText === null ? LIMITS.historyPageDefault : Number(limitText);
  if (!Number.isInteger(limit) || limit < 1 || limit > LIMITS.historyPageMax) return errorResponse('invalid_limit');
  const w = conv.window();
  const plan = planResume({ since: a.since ?? 0, epoch: a.epoch }, w);
  if (plan.kind === 'invalid') return errorResponse('invalid_cursor', `since is beyond the head (${w.head}).`);
  const from = plan.kind === 'replay' ? plan.from : w.head + 1;
  // The stored JSON of each frame is stitched in as it is, never parsed (decisions/0101).
  const frames: string[] = [];
  let bytes = 0;
  let last = Math.max(from - 1, a.since ?? 0);
  // A filtered page counts the frames it returns; the rows it passes over move `next_since` on too (decisions/0130).
  const filter = filterOf(a.subscribe_streams);
  let scanned = 0;
  for (const row of conv.rows(from, filter ? undefined : limit)) {
    if (filter && !passesJson(filter, row.frame)) {
      if (++scanned > LIMITS.subscribeScanRows) break;
      last = row.seq;
      continue;
    }
    const text = withChain(row.frame, row.chain);
    const size = utf8Length(text) + 1;
    if (frames.length > 0 && bytes + size > LIMITS.pageBytes) break;
    frames.push(text);
    bytes += size;
    last = row.seq;
    if (frames.length >= limit) break;
  }
  const head = JSON.stringify({ conversation_id: conv.record!.conversation_id, epoch: w.epoch, head_seq: w.head, first_seq: w.firstRetained });
  const tail = JSON.stringify({
    next_since: last,
    more: last < w.head,
    ...(plan.kind === 'replay' && plan.truncated ? { truncated: plan.truncated } : {}),
  });
  return new Response(`${head.slice(0, -1)},"frames":[${frames.join(',')}],${tail.slice(1)}`, { headers: { 'content-type': 'application/json' } });
}
