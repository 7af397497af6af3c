/**
 * One MCP session: an MCP `Server` with the AMS tools on a
 * `WebStandardStreamableHTTPServerTransport`, the session's identity, and its
 * membership in (at most) one conversation, reached over RPC.
 *
 * Delivery has three paths, all over the conversation's `seq`: `ams_recv`
 * (the long-poll a model calls), the GET stream (see listening.ts), and
 * ride-along notifications on tool responses when no GET stream is held. The
 * `notified` cursor makes the last two tell each frame once.
 */
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { CallToolRequestSchema, ListToolsRequestSchema, type CallToolResult, type RequestId, type ServerNotification } from '@modelcontextprotocol/sdk/types.js';
import { CfWorkerJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/cfworker';
import { secretsOf, type Env } from '../control/env';
import { emit } from '../control/events';
import { conversationStub } from '../conversation/conversation-stub';
import { AmsError, errorBody, type ErrorBody, type ErrorCode } from '../protocol/errors';
import type { Scope } from '../protocol/frames';
import type { LinkAddress } from './link';
import { freshChannel, type ChannelState, type NotifyMode } from './channel';
import { Listening } from './listening';
import { closedNotification, type AmsNotification } from './notifications';
import { credentialHolds, verifyResumeKey, type ResumeClaims } from './resume-key';
import type { JoinArgs, Joined, MemberRef, Outcome } from '../conversation/members/rpc';
import { INSTRUCTIONS, toolCall, toolList, withOwnerInstructions } from './tools';
import { clientFromInfo } from '../protocol/identity';
import { enteredWith, freshAccount, joinedAnswer, ownCredential, type Attached, type ToolHost } from './tool-host';
import type { SessionEvents } from './events';
import { ReadAnswer, ReadCommits } from './read-commits';
import { LIMITS } from '../protocol/limits';

export interface JoinedState {
  ns: string;
  alias: string;
  conversation_id: string;
  ref: MemberRef;
  account_id: string | null;
  stream_id: string | null;
  stream_name: string | null;
  scope: Scope;
  resume_key: string;
  /** The conversation's quiet gap that closes an utterance (ms); absent where the join result was not seen (a stateless call). */
  gap_ms?: number;
}

/** Everything needed to rebuild the session after its object restarted. */
export interface SessionState {
  v: 1;
  id: string;
  /** The client's `initialize` request, replayed into a fresh server on rebuild. */
  init: unknown;
  origin: string;
  /** The magic link of the endpoint the session was opened on; null on bare `/mcp`. */
  bound: LinkAddress | null;
  /** SHA-256 of the bearer the session was opened with; later requests must present the same. */
  credential_hash: string | null;
  account_id: string;
  /** The namespace of the session's account, when it is a real account (bearer, or minted by ams_create_conversation). */
  namespace: string | null;
  /** The generation of that account's credential the session acts under (absent: an anonymous identity, or a session stored before rotation existed). */
  credential_generation?: number;
  joined: JoinedState | null;
  /** Why the last membership ended on the conversation's side, told to the next call that needs one. */
  ended?: ErrorBody | null;
  notified: number;
  /** The channel push's reader (notifications/claude/channel); absent until a join. */
  channel?: ChannelState;
  /** The conversation's instructions when the session opened on its link: told after AMS's own in `initialize` (and again after a rebuild). */
  instructions?: string;
  created_at: number;
  last_seen: number;
}

/** A domain failure on its way to becoming an `isError` tool result. */
export class ToolFail extends Error {
  constructor(readonly code: ErrorCode, message?: string) {
    super(message ?? errorBody(code).message);
  }
}

/**
 * An MCP join's outcome as its event line (path `mcp`): the membership, or the
 * refusal, which goes on to the caller as the tool's error. Both hosts join through it.
 */
export function admitted(env: Env, target: { ns: string; alias: string }, out: Outcome<Joined>): Joined {
  if (!out.ok) {
    emit(env, 'connection.refused', { ns: target.ns, alias: target.alias, path: 'mcp', code: out.error });
    throw new ToolFail(out.error, out.message);
  }
  const v = out.value;
  emit(env, 'connection.accepted', { ns: target.ns, alias: target.alias, path: 'mcp', scope: v.scope, ...(v.account_id ? { account: v.account_id } : {}) });
  return v;
}

export type Notify = (n: AmsNotification) => Promise<void>;
type Extra = { sendNotification: (n: ServerNotification) => Promise<void>; requestId: RequestId; signal: AbortSignal };
type ConversationRpc = ReturnType<typeof conversationStub>;

/**
 * A tool value that is text for a model, not JSON (ams_recv's transcript): the
 * result has that text content and no `structuredContent` — a client that
 * finds `structuredContent` shows the model that instead (decisions/0095).
 */
export class Worded {
  constructor(readonly text: string) {}
}

function textResult(value: object, isError = false): CallToolResult {
  if (value instanceof Worded) return { content: [{ type: 'text', text: value.text }] };
  return { content: [{ type: 'text', text: JSON.stringify(value) }], structuredContent: value as Record<string, unknown>, ...(isError ? { isError } : {}) };
}

export class McpSession implements ToolHost {
  readonly stateless = false;
  readonly server: Server;
  readonly transport: WebStandardStreamableHTTPServerTransport;
  /** The GET stream and what it is told. */
  readonly listening: Listening;
  /** ams_recv answers waiting to move the read position (decisions/0120). */
  readonly commits: ReadCommits;

  /** `listenerId` is this session's object id: what the conversation rings. `events` is the object's store of what its streams carried. */
  constructor(readonly env: Env, readonly state: SessionState, readonly save: () => Promise<void>, listenerId: string, readonly events: SessionEvents) {
    this.server = new Server(
      { name: 'ams', title: 'AMS — Agent Messaging Service', version: '1.0.0' },
      // The tool list never changes while a session lives: listChanged is false.
      { instructions: withOwnerInstructions(INSTRUCTIONS, state.instructions ?? ''), jsonSchemaValidator: new CfWorkerJsonSchemaValidator(), capabilities: { tools: { listChanged: false }, experimental: { 'claude/channel': {} } } },
    );
    this.server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: toolList() }));
    // Schema errors become `{error: "invalid_arguments"}` results like every other failure.
    this.server.setRequestHandler(CallToolRequestSchema, (req, extra) => this.call(req.params.name, req.params.arguments, extra));
    this.commits = new ReadCommits((a) => this.commitRead(a));
    this.transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => state.id,
      // A store makes every SSE stream open with a priming event and a retry field, and lets a cut one resume.
      eventStore: {
        storeEvent: async (stream, message) => {
          const id = await events.storeEvent(stream, message);
          await this.commits.stored(stream, id, message);
          return id;
        },
        replayEventsAfter: (last, { send }) => events.replayEventsAfter(last, {
          send: async (id, message) => {
            await this.commits.replaying(id);
            await send(id, message);
          },
        }),
      },
      retryInterval: LIMITS.mcpSseRetryMs,
      keepAliveMs: LIMITS.sseKeepAliveMs,
    });
    this.listening = new Listening(this, listenerId);
  }

  get client(): string | undefined {
    return clientFromInfo((this.state.init as { params?: { clientInfo?: unknown } } | null)?.params?.clientInfo);
  }

  async start(): Promise<void> {
    await this.server.connect(this.transport);
  }

  /** Rebuilds the protocol state of a known session by replaying its `initialize`. */
  async replayInitialize(): Promise<void> {
    const request = new Request(`${this.state.origin}/mcp`, {
      method: 'POST',
      headers: { accept: 'application/json, text/event-stream', 'content-type': 'application/json' },
      body: JSON.stringify(this.state.init),
    });
    const res = await this.transport.handleRequest(request, { parsedBody: this.state.init });
    await res.text();
  }

  /** Serves one HTTP request of this session. */
  handle(request: Request): Promise<Response> {
    if (request.method === 'GET') return this.listening.open(request);
    if (request.method === 'POST') return this.commits.post(request, (req, parsedBody) => this.transport.handleRequest(req, { parsedBody }));
    return this.transport.handleRequest(request);
  }

  /** Ends the session's membership (DELETE, idle collection). */
  async leave(): Promise<void> {
    const j = this.state.joined;
    this.state.joined = null;
    this.listening.stop(false);
    if (j) await this.rpc(j).mcpLeave(j.ref).catch(() => undefined);
  }

  rpc(j: { ns: string; alias: string }): ConversationRpc {
    return conversationStub(this.env, j.ns, j.alias);
  }

  private async call(name: string, rawArgs: unknown, extra: Extra): Promise<CallToolResult> {
    const notify: Notify = (n) => extra.sendNotification(n as unknown as ServerNotification);
    const call = toolCall(name, rawArgs);
    if (!call.ok) return textResult(call.error, true);
    let result: CallToolResult;
    try {
      let value = await call.run(this, notify);
      if (value instanceof ReadAnswer) {
        this.commits.hold(extra.requestId, value, extra.signal);
        value = value.value;
      }
      result = textResult(value);
    } catch (err) {
      if (err instanceof ToolFail || err instanceof AmsError) result = textResult(errorBody(err.code, err.message), true);
      else {
        console.error(`AMS MCP session: ${call.name} failed`, err);
        result = textResult(errorBody('internal_error'), true);
      }
    }
    if (call.name !== 'ams_recv' && !this.listening.holdsStream && this.state.joined) await this.listening.rideAlong(notify).catch(() => undefined);
    return result;
  }

  // ---- what the tools act on ----

  /** A session without an account of its own gets a fresh one (ams_create_conversation); it then speaks as that account. */
  async adoptFreshAccount(): Promise<{ account_id: string; namespace: string; credential: string }> {
    const fresh = await freshAccount(this.env);
    // The session now speaks as that account, so joining the new conversation gets the minted stream.
    this.state.account_id = fresh.account_id;
    this.state.namespace = fresh.namespace;
    this.state.credential_generation = 1;
    await this.save();
    return fresh;
  }

  /** Before joining another membership: leave the one the session holds. */
  async leaveOtherThan(memberId: string | undefined): Promise<void> {
    const prev = this.state.joined;
    if (prev && prev.ref.member_id !== memberId) {
      this.state.joined = null;
      await this.rpc(prev).mcpLeave(prev.ref).catch(() => undefined);
    }
  }

  /** Joins (or continues) a membership and makes it the session's. */
  async attach(target: { ns: string; alias: string }, args: JoinArgs, notify: NotifyMode = 'all'): Promise<Attached> {
    const v = admitted(this.env, target, await this.rpc(target).mcpJoin({ ...args, credential: ownCredential(this.state) }));
    const answer = joinedAnswer(this.env, target, v, await enteredWith(this.env, this.state, target, v, args.resume));
    const resume_key = answer.resume_key;
    // A filter changed in place on this session's own membership: the pushes go on from where they were, with the new filter.
    const refilter = args.subscribe_streams !== undefined && args.since === undefined && this.state.joined?.ref.member_id === v.ref.member_id && this.state.channel !== undefined;
    this.state.joined = {
      ns: target.ns, alias: target.alias, conversation_id: v.conversation_id, ref: v.ref, account_id: v.account_id,
      stream_id: v.stream_id, stream_name: v.stream_name, scope: v.scope, resume_key, gap_ms: v.utterance_gap_ms,
    };
    if (refilter) this.state.channel = { ...this.state.channel!, notify };
    else {
      this.state.notified = v.cursor;
      this.state.channel = freshChannel(notify, v.cursor);
    }
    this.state.ended = null;
    await this.save();
    void this.listening.listen();
    return { ...answer, notify };
  }

  /** An ams_recv answer is stored and its client still there: move the read position; notifications need not tell it again. */
  private async commitRead(a: ReadAnswer): Promise<void> {
    const out = await this.rpc(a.j).mcpCommitRead(a.j.ref, a.proposal);
    const nextSince = a.proposal.to.cursor;
    if (out.ok && out.value.committed && nextSince > this.state.notified && this.state.joined === a.j) {
      this.state.notified = nextSince;
      await this.save();
    }
  }

  async checkedKey(key: string): Promise<ResumeClaims> {
    const rk = verifyResumeKey(secretsOf(this.env).linkSecret, key);
    if (!rk) throw new ToolFail('invalid_resume_key');
    if (this.state.credential_hash !== null && rk.account_id !== null && rk.account_id !== this.state.account_id) {
      throw new ToolFail('resume_key_mismatch', 'The resume_key belongs to another account than this session\'s bearer credential.');
    }
    if (!(await credentialHolds(this.env, rk))) throw new ToolFail('credential_revoked');
    return rk;
  }

  /** The membership a call acts on: the session's, or the one its resume_key names. */
  async membership(resumeKey: string | undefined): Promise<JoinedState> {
    const j = this.state.joined;
    if (resumeKey === undefined) {
      if (!j && this.state.ended) throw new ToolFail(this.state.ended.error, `${this.state.ended.message} (Your membership ended; call ams_join to join again.)`);
      if (!j) throw new ToolFail('not_joined');
      return j;
    }
    const rk = await this.checkedKey(resumeKey);
    if (j) {
      if (j.ref.member_id === rk.member_id && j.conversation_id === rk.conversation_id) return j;
      throw new ToolFail('resume_key_mismatch', `This session is joined as ${j.stream_name ?? 'an observer'} in ${j.ns}/${j.alias}; the resume_key is for another membership.`);
    }
    await this.attach(rk, { resume: rk, account_id: this.state.account_id });
    return this.state.joined!;
  }

  /** Calls the conversation; a membership it ended is dropped from the session and announced. */
  async onConv<T>(j: JoinedState, call: (c: ConversationRpc) => Promise<Outcome<T>>, notify?: Notify): Promise<T> {
    const out = await call(this.rpc(j));
    if (out.ok) return out.value;
    if (out.ended) await this.ended(j, out.error, out.message ?? errorBody(out.error).message, notify);
    throw new ToolFail(out.error, out.message);
  }

  /** The conversation ended `j`: forget it, remember why, and say so (on the call's response, or the GET stream). */
  async ended(j: JoinedState, reason: ErrorCode, message: string, notify?: Notify): Promise<void> {
    if (this.state.joined?.ref.lease !== j.ref.lease) return;
    this.state.joined = null;
    this.state.ended = { error: reason, message };
    await this.save();
    const n = closedNotification(reason, message, { conversation_id: j.conversation_id, stream_id: j.stream_id });
    await (notify ?? ((x: AmsNotification) => this.listening.push(x)))(n).catch(() => undefined);
  }
}
