/**
 * The stream plane's entry: `/connect` (WebSocket), `/events` (SSE),
 * `/tokens` (emit without a socket) and `/history`. The Worker checks what it
 * can without storage (signature, expiry, credential, headers) and hands the
 * conversation object a sealed `Admission`; the object applies the published
 * check order, because only it knows whether the conversation exists.
 */
import { Hono } from 'hono';
import { ADMISSION_HEADER, type Admission } from '../conversation/admission';
import { rejectSocket } from '../conversation/connections';
import { audienceShardName, audienceShardStub, conversationStub } from '../conversation/conversation-stub';
import { SHARD_HEADER } from '../conversation/shards/shard';
import { bearerCredential, checkCredential } from '../control/accounts';
import { secretsOf, type Env } from '../control/env';
import { verifyLink } from '../control/links';
import { AmsError } from '../protocol/errors';
import type { JsonObject } from '../protocol/frames';
import { exceedsUtf8Bytes } from '../protocol/frames';
import { LIMITS } from '../protocol/limits';
import { parseIdentity } from '../protocol/identity';
import { ALIAS_RE, EPOCH_RE, NAMESPACE_RE, STREAM_NAME_RE, decodeMetadataHeader, isJsonObject, parseCursor, parseFlag } from '../protocol/validate';
import { mediaType, readText } from './body';
import { observed, refusalLogged } from './observe';
import { emit } from '../control/events';
import { parseSubscription, SUBSCRIBE_HEADER, SUBSCRIBE_PARAM } from '../protocol/subscription';

export const stream = new Hono<{ Bindings: Env }>();

const BEARER_PROTOCOL = 'ams.bearer.';

/** Subprotocols offered by the client, for browsers that cannot set headers. */
function offeredProtocols(request: Request): string[] {
  return (request.headers.get('sec-websocket-protocol') ?? '').split(',').map((p) => p.trim()).filter(Boolean);
}

/** Builds the admission for a request: every header has a query-parameter twin (never the credential). */
export async function admissionFor(env: Env, request: Request, ns: string, alias: string, t: string): Promise<Admission> {
  const url = new URL(request.url);
  const h = request.headers;
  const q = url.searchParams;
  const pick = (header: string, param: string) => h.get(header) ?? q.get(param);
  const link = verifyLink(secretsOf(env).linkSecret, ns, alias, t, Date.now() / 1000);
  const offered = offeredProtocols(request);
  const fromProtocol = offered.find((p) => p.startsWith(BEARER_PROTOCOL))?.slice(BEARER_PROTOCOL.length);
  const credential = bearerCredential(request) ?? fromProtocol;
  const needsAccount = link.ok && link.claims.scope === 'write';
  const account = needsAccount ? await checkCredential(env, credential, { ns, alias }) : { status: 'missing' as const };

  const a: Admission = {
    claims: link.ok ? link.claims : null,
    account: account.status === 'ok' ? { status: 'ok', account_id: account.account_id, namespace: account.namespace, credential_generation: account.credential_generation } : account,
    self_subscribe: parseFlag(pick('x-ams-self-subscribe', 'self_subscribe')),
    receipts: parseFlag(pick('x-ams-receipts', 'receipts')),
    integrity: (pick('x-ams-integrity', 'integrity') ?? '').toLowerCase() === 'chain',
    subprotocol: offered.includes('ams.v1'),
  };
  const name = pick('x-ams-stream-name', 'stream_name');
  if (name !== null) {
    if (STREAM_NAME_RE.test(name)) a.stream_name = name;
    else a.stream_name_invalid = true;
  }
  const meta = pick('x-ams-stream-metadata', 'stream_metadata');
  if (meta !== null) {
    const decoded = decodeMetadataHeader(meta);
    if (decoded) a.stream_metadata = decoded;
    else a.stream_metadata_invalid = true;
  }
  const declared = { kind: pick('x-ams-identity-kind', 'identity_kind'), client: pick('x-ams-identity-client', 'identity_client'), model: pick('x-ams-identity-model', 'identity_model') };
  if (declared.kind !== null || declared.client !== null || declared.model !== null) {
    const identity = parseIdentity({ kind: declared.kind ?? undefined, client: declared.client ?? undefined, model: declared.model ?? undefined });
    if (identity === 'invalid') a.identity_invalid = true;
    else a.identity = identity;
  }
  const subscribe = pick(SUBSCRIBE_HEADER, SUBSCRIBE_PARAM);
  if (subscribe !== null) {
    const sub = parseSubscription(subscribe);
    if (!sub.ok) a.subscribe_invalid = sub.message;
    else if (a.integrity) a.subscribe_invalid = 'subscribe_streams cannot be combined with integrity=chain: a filtered subscriber cannot verify a chain it does not see.';
    else a.subscribe_streams = sub.streams;
  }
  const since = parseCursor(pick('x-ams-since', 'since') ?? h.get('last-event-id'));
  if (since === 'invalid') a.since_invalid = true;
  else if (since !== undefined) a.since = since;
  const epoch = pick('x-ams-epoch', 'epoch');
  if (epoch !== null) {
    if (EPOCH_RE.test(epoch)) a.epoch = epoch;
    else a.since_invalid = true;
  }
  return a;
}

const accountOf = (a: Admission) => (a.account.status === 'ok' ? a.account.account_id : undefined);

function addressOf(ns: string, alias: string): boolean {
  return NAMESPACE_RE.test(ns) && ALIAS_RE.test(alias);
}

/** Forwards to the conversation object with the admission sealed in a header of our own making. */
export function forward(env: Env, ns: string, alias: string, path: string, a: Admission, init: RequestInit = {}): Promise<Response> {
  return conversationStub(env, ns, alias).fetch(new Request(`https://conversation${path}`, { ...init, headers: sealed(a, init.headers) }));
}

function sealed(a: Admission, init?: HeadersInit): Headers {
  const headers = new Headers(init);
  // Header values should be ASCII: escape the rest (metadata may hold any text) so nothing is re-encoded on the way.
  headers.set(ADMISSION_HEADER, JSON.stringify(a).replace(/[\u007f-\uffff]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`));
  return headers;
}

/**
 * Listening routes (`/connect`, `/events`): a valid read link is a listener
 * and goes to one of the conversation's audience shards, picked at random
 * (decision 0110); anything else goes to the conversation object itself.
 */
function listen(env: Env, ns: string, alias: string, path: '/connect' | '/events', a: Admission, init: RequestInit = {}): Promise<Response> {
  if (a.claims?.scope !== 'read') return forward(env, ns, alias, path, a, init);
  const name = audienceShardName(ns, alias, Math.floor(Math.random() * LIMITS.audienceShards));
  const headers = sealed(a, init.headers);
  headers.set(SHARD_HEADER, name);
  return audienceShardStub(env, name).fetch(new Request(`https://shard${path}`, { ...init, headers }));
}

stream.get('/:ns/conversations/:alias/connect', async (c) => {
  const { ns, alias } = c.req.param();
  const upgrade = c.req.header('upgrade');
  if (!upgrade || upgrade.toLowerCase() !== 'websocket') throw new AmsError('upgrade_required');
  const subprotocol = offeredProtocols(c.req.raw).includes('ams.v1');
  secretsOf(c.env);
  const t = c.req.query('t');
  if (!t) return observed(c, ns, alias, 'ws', undefined, rejectSocket('invalid_magic_link', subprotocol));
  if (!addressOf(ns, alias)) return observed(c, ns, alias, 'ws', undefined, rejectSocket('conversation_not_found', subprotocol));
  const a = await admissionFor(c.env, c.req.raw, ns, alias, t);
  return observed(c, ns, alias, 'ws', a.claims?.scope, await listen(c.env, ns, alias, '/connect', a, { headers: { Upgrade: 'websocket' } }), accountOf(a));
});

/** Checks shared by the HTTP stream routes before the object is asked. */
export async function httpAdmission(c: { env: Env; req: { raw: Request; param(): Record<string, string>; query(k: string): string | undefined } }) {
  const { ns, alias } = c.req.param();
  secretsOf(c.env);
  if (!addressOf(ns, alias)) throw new AmsError('conversation_not_found');
  const t = c.req.query('t');
  if (!t) throw new AmsError('invalid_magic_link', 'This route needs the t= of a magic link.');
  return { ns, alias, a: await admissionFor(c.env, c.req.raw, ns, alias, t) };
}

stream.get('/:ns/conversations/:alias/events', async (c) => {
  const accept = c.req.header('accept') ?? '';
  if (accept && !accept.includes('text/event-stream') && !accept.includes('*/*')) throw new AmsError('not_acceptable');
  const { ns, alias, a } = await httpAdmission(c);
  return observed(c, ns, alias, 'sse', a.claims?.scope, await listen(c.env, ns, alias, '/events', a));
});

stream.get('/:ns/conversations/:alias/history', async (c) => {
  const { ns, alias, a } = await httpAdmission(c);
  const limit = c.req.query('limit');
  return forward(c.env, ns, alias, limit === undefined ? '/history' : `/history?limit=${encodeURIComponent(limit)}`, a);
});

stream.post('/:ns/conversations/:alias/tokens', async (c) => {
  const { ns, alias, a } = await httpAdmission(c);
  const endParam = c.req.query('end');
  if (endParam !== undefined && endParam !== 'true' && endParam !== 'false') throw new AmsError('invalid_token', 'end must be "true" or "false".');
  const tokens = await readTokens(c.req.raw, endParam !== 'false');
  const name = c.req.query('stream_name') ?? a.stream_name;
  if (a.stream_name_invalid || (name !== undefined && !STREAM_NAME_RE.test(name))) throw new AmsError('invalid_stream_name');
  if (a.stream_metadata_invalid) throw new AmsError('invalid_stream_metadata');
  if (a.identity_invalid) throw new AmsError('invalid_identity');
  const body = JSON.stringify({ stream_name: name, stream_metadata: a.stream_metadata as JsonObject | undefined, tokens });
  const res = await forward(c.env, ns, alias, '/tokens', a, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
  if (res.ok) emit(c.env, 'tokens.emitted', { ns, alias, path: 'http', stream: name ?? '', account: accountOf(a) ?? '', tokens: tokens.length });
  else if (res.status === 429) {
    emit(c.env, 'emit.rate_limited', { ns, alias, path: 'http', stream: name ?? '', account: accountOf(a) ?? '' });
    refusalLogged(c);
  }
  return res;
});

interface TokenInput {
  data: string;
  id?: string;
  ref?: number;
  end?: boolean;
}

/**
 * `POST …/tokens` bodies: text/plain = one token; application/json = `{data, id?, ref?, end?}`,
 * a string, or an array of either; application/x-ndjson = one token per line
 * (each line a JSON token or raw text). The whole batch is checked before any is kept.
 * A request ends an utterance: its last token gets `end: true` when `endLast`
 * (no `?end=false`) unless that token says `end` itself.
 */
export async function readTokens(request: Request, endLast = true): Promise<TokenInput[]> {
  const type = mediaType(request);
  const text = await readText(request, LIMITS.tokensBodyBytes);
  let tokens: TokenInput[];
  if (type === 'text/plain' || type === '') {
    tokens = [{ data: text }];
  } else if (type === 'application/json') {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new AmsError('invalid_json');
    }
    tokens = (Array.isArray(value) ? value : [value]).map(toToken);
  } else if (type === 'application/x-ndjson' || type === 'application/jsonl') {
    tokens = text.split('\n').filter((line) => line.trim() !== '').map((line) => {
      try {
        return toToken(JSON.parse(line));
      } catch (err) {
        if (err instanceof AmsError) throw err;
        return { data: line.endsWith('\r') ? line.slice(0, -1) : line };
      }
    });
  } else {
    throw new AmsError('unsupported_media_type', 'Send text/plain, application/json or application/x-ndjson.');
  }
  if (tokens.length === 0) throw new AmsError('invalid_token', 'The body holds no token.');
  if (tokens.length > LIMITS.tokensPerBatch) throw new AmsError('too_many_tokens');
  for (const t of tokens) {
    if (exceedsUtf8Bytes(t.data, LIMITS.tokenBytes)) throw new AmsError('token_too_large');
    if (!t.data.isWellFormed()) throw new AmsError('invalid_token', 'A token holds a lone surrogate.');
  }
  const last = tokens[tokens.length - 1];
  if (last.end === undefined && endLast) last.end = true;
  return tokens;
}

function toToken(value: unknown): TokenInput {
  if (typeof value === 'string') return { data: value };
  if (!isJsonObject(value) || typeof value.data !== 'string') throw new AmsError('invalid_token');
  const { data, id, ref, end } = value;
  if (id !== undefined && (typeof id !== 'string' || id.length < 1 || id.length > LIMITS.tokenIdChars)) throw new AmsError('invalid_token', 'id must be a string of 1 to 64 characters.');
  if (ref !== undefined && (typeof ref !== 'number' || !Number.isInteger(ref) || ref < 1)) throw new AmsError('invalid_token', 'ref must be a positive integer.');
  if (end !== undefined && typeof end !== 'boolean') throw new AmsError('invalid_token', 'end must be true or false.');
  return { data, ...(id !== undefined ? { id: id as string } : {}), ...(ref !== undefined ? { ref: ref as number } : {}), ...(end !== undefined ? { end } : {}) };
}
