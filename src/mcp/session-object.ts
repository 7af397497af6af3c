/**
 * The Durable Object of one MCP session, named by its session id. A thin
 * shell: it creates the session on `initialize`, rebuilds it from storage
 * after a restart (replaying the stored `initialize`), checks that every
 * request comes from the same identity, and collects the session when idle.
 */
import { DurableObject } from 'cloudflare:workers';
import { sha256 } from '@noble/hashes/sha2.js';
import { accountStub } from '../control/account-stub';
import { bearerCredential, checkCredential } from '../control/accounts';
import { toHex } from '../control/encoding';
import { secretsOf, type Env } from '../control/env';
import { emit } from '../control/events';
import { hiddenId } from '../protocol/events';
import { newAccountId } from '../control/ids';
import { LIMITS } from '../protocol/limits';
import { errorBody } from '../protocol/errors';
import { jsonRpcError, RPC, sessionNotFound } from './json-rpc';
import type { LinkAddress } from './link';
import type { Doorbell } from '../conversation/members/rpc';
import { boundInstructions } from './purpose';
import { McpSession, type SessionState } from './session';
import { SessionEvents } from './events';

/** Headers the Worker sets (after deleting any a client sent) when it forwards to this object. */
export const SESSION_HEADER = 'x-ams-mcp-session';
export const INIT_HEADER = 'x-ams-mcp-initialize';
export const BOUND_HEADER = 'x-ams-mcp-bound';

const KEY = 'session';
/** Set when the session ended because its credential was rotated: that id answers 403 `credential_revoked`, not 404, until the tombstone's alarm. */
const REVOKED_KEY = 'revoked';
const REVOKED_KEPT_MS = 24 * 60 * 60 * 1000;
/** last_seen is written at most this often, so a busy session is not a write per call. */
const SEEN_WRITE_MS = 60_000;

/**
 * What a rebuild needs of the client's `initialize` (decision 0107): its id,
 * protocol version, capabilities and client info, nothing else a client sent.
 * Undefined when even that is over `LIMITS.mcpInitStoredBytes`.
 */
export function storedInitialize(init: unknown): unknown {
  const m = init as { id?: unknown; params?: { protocolVersion?: unknown; capabilities?: unknown; clientInfo?: unknown } };
  const p = m.params ?? {};
  const kept = { jsonrpc: '2.0', id: m.id, method: 'initialize', params: { protocolVersion: p.protocolVersion, capabilities: p.capabilities, clientInfo: p.clientInfo } };
  return new TextEncoder().encode(JSON.stringify(kept)).length <= LIMITS.mcpInitStoredBytes ? kept : undefined;
}

function credentialHash(credential: string | undefined): string | null {
  return credential === undefined ? null : toHex(sha256(new TextEncoder().encode(credential)));
}

export class McpSessionObject extends DurableObject<Env> {
  private session: McpSession | undefined;
  private opening: Promise<McpSession | undefined> | undefined;
  private seenWritten = 0;
  /** What this session's streams carried, for Last-Event-ID (kept across restarts, dropped with the session). */
  private readonly events = new SessionEvents(this.ctx.storage.sql);

  override async fetch(request: Request): Promise<Response> {
    const id = request.headers.get(SESSION_HEADER) ?? '';
    try {
      if (request.headers.get(INIT_HEADER) === '1') return await this.initialize(request, id);
      const s = await this.load();
      if (!s || s.state.id !== id) {
        // A session ended by a rotation keeps answering as the protocol says (decision 0146), whether the ring or a request noticed first.
        if ((await this.ctx.storage.get<string>(REVOKED_KEY)) === id) return Response.json(errorBody('credential_revoked'), { status: 403 });
        return sessionNotFound();
      }
      if (credentialHash(bearerCredential(request)) !== s.state.credential_hash) {
        return jsonRpcError(403, RPC.badRequest, 'This MCP session was opened with another Authorization header; initialize a new session.');
      }
      if (!(await this.credentialHolds(s, request))) {
        await this.end(s, 'credential_revoked');
        return Response.json(errorBody('credential_revoked'), { status: 403 });
      }
      await this.touch(s);
      const res = await s.handle(request);
      if (request.method === 'DELETE' && res.status === 200) await this.end(s, 'deleted');
      return res;
    } catch (err) {
      console.error(`AMS MCP session ${id.slice(0, 8)}…: ${request.method} failed`, err);
      return jsonRpcError(500, RPC.internalError, 'Internal error; it has been logged.');
    }
  }

  private async initialize(request: Request, id: string): Promise<Response> {
    const init = JSON.parse(await request.text()) as unknown;
    const stored = storedInitialize(init);
    if (stored === undefined) {
      return jsonRpcError(400, RPC.badRequest, `Bad Request: initialize params (protocolVersion, capabilities, clientInfo) exceed ${LIMITS.mcpInitStoredBytes} bytes.`);
    }
    const credential = bearerCredential(request);
    let account_id = newAccountId();
    let namespace: string | null = null;
    let generation: number | undefined;
    if (credential !== undefined) {
      const check = await checkCredential(this.env, credential);
      // 403, never 401: a 401 sends MCP clients into OAuth discovery.
      if (check.status !== 'ok') return Response.json(errorBody('invalid_credential', 'The bearer credential is not valid; connect without one to act as a fresh anonymous account.'), { status: 403 });
      account_id = check.account_id;
      namespace = check.namespace;
      generation = check.credential_generation;
    }
    const boundHeader = request.headers.get(BOUND_HEADER);
    const bound = boundHeader ? (JSON.parse(boundHeader) as LinkAddress) : null;
    const instructions = await boundInstructions(this.env, bound);
    const now = Date.now();
    const state: SessionState = {
      v: 1, id, init: stored, origin: new URL(request.url).origin, bound,
      credential_hash: credentialHash(credential), account_id, namespace, ...(generation !== undefined ? { credential_generation: generation } : {}), joined: null, notified: 0, created_at: now, last_seen: now,
      ...(instructions !== '' ? { instructions } : {}),
    };
    const s: McpSession = new McpSession(this.env, state, () => this.persist(s), this.ctx.id.toString(), this.events);
    await s.start();
    const res = await s.transport.handleRequest(request, { parsedBody: init });
    if (s.transport.sessionId !== id) return res;
    this.session = s;
    this.opening = Promise.resolve(s);
    await this.persist(s);
    emit(this.env, 'mcp.session_opened', { session: hiddenId(secretsOf(this.env).linkSecret, id), ...(namespace ? { account: account_id } : {}) });
    // A session that never joins is forgotten soon (decision 0107); joining earns the long window.
    await this.ctx.storage.setAlarm(now + LIMITS.mcpSessionUnjoinedIdleMs);
    return res;
  }

  /**
   * A session opened with a bearer lives only as long as that credential: every
   * request checks it again (one call to its account), so a rotation ends the
   * session at its next request (decision 0146).
   */
  private async credentialHolds(s: McpSession, request: Request): Promise<boolean> {
    if (s.state.credential_hash === null) return true;
    const check = await checkCredential(this.env, bearerCredential(request));
    return check.status === 'ok' && check.account_id === s.state.account_id;
  }

  private load(): Promise<McpSession | undefined> {
    if (this.session) return Promise.resolve(this.session);
    this.opening ??= this.restore().finally(() => {
      if (!this.session) this.opening = undefined;
    });
    return this.opening;
  }

  /** After a restart: the same id, identity and membership, with a server rebuilt from the stored `initialize`. */
  private async restore(): Promise<McpSession | undefined> {
    const state = await this.ctx.storage.get<SessionState>(KEY);
    if (!state || state.v !== 1) return undefined;
    const s: McpSession = new McpSession(this.env, state, () => this.persist(s), this.ctx.id.toString(), this.events);
    await s.start();
    await s.replayInitialize();
    this.session = s;
    this.seenWritten = state.last_seen;
    return s;
  }

  private async persist(s: McpSession): Promise<void> {
    if (this.session && this.session !== s) return;
    this.seenWritten = s.state.last_seen;
    await this.ctx.storage.put(KEY, s.state);
  }

  private async touch(s: McpSession): Promise<void> {
    s.state.last_seen = Date.now();
    if (s.state.last_seen - this.seenWritten >= SEEN_WRITE_MS) await this.persist(s);
  }

  /** Leaves the conversation and forgets everything; the id then answers 404. */
  private async end(s: McpSession, reason: 'idle' | 'deleted' | 'credential_revoked'): Promise<void> {
    emit(this.env, 'mcp.session_collected', { session: hiddenId(secretsOf(this.env).linkSecret, s.state.id), reason });
    await s.leave();
    await s.transport.close().catch(() => undefined);
    this.session = undefined;
    this.opening = undefined;
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    if (reason === 'credential_revoked') {
      await this.ctx.storage.put(REVOKED_KEY, s.state.id);
      await this.ctx.storage.setAlarm(Date.now() + REVOKED_KEPT_MS);
    }
  }

  /**
   * A conversation rings after frames this session's membership hears. Answers
   * at once; the pull that follows is a call of its own. An object that has
   * just started holds no GET stream, so it says so without loading anything.
   */
  doorbell(bell: Doorbell): boolean {
    // A membership that ended may have ended because the session's credential was rotated: then the session ends too.
    if (bell.ended && this.session) this.ctx.waitUntil(this.endIfRotated(this.session));
    return this.session?.listening.rang(bell) ?? false;
  }

  private async endIfRotated(s: McpSession): Promise<void> {
    const { namespace, credential_generation: generation } = s.state;
    if (s.state.credential_hash === null || !namespace || generation === undefined) return;
    if ((await accountStub(this.env, namespace).credentialGeneration()) !== generation && this.session === s) await this.end(s, 'credential_revoked');
  }

  override async alarm(): Promise<void> {
    const s = await this.load();
    if (!s) {
      await this.ctx.storage.deleteAll();
      return;
    }
    const due = s.state.last_seen + (s.state.joined ? LIMITS.mcpSessionIdleMs : LIMITS.mcpSessionUnjoinedIdleMs);
    if (Date.now() < due || s.listening.holdsStream) {
      await this.ctx.storage.setAlarm(Math.max(due, Date.now() + 60_000));
      return;
    }
    await this.end(s, 'idle');
  }
}
