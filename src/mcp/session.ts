/**
 * One MCP session: an `McpServer` with the AMS tools on a
 * `WebStandardStreamableHTTPServerTransport`, the session's identity, and its
 * membership in (at most) one conversation, reached over RPC.
 *
 * Delivery has three paths, all over the conversation's `seq`: `ams_recv`
 * (the long-poll a model calls), the GET stream (while the client holds it,
 * the session is registered with the conversation, which rings its doorbell
 * after frames; the session then pulls what it has not told yet), and
 * ride-along notifications on tool responses when it does not. The `notified`
 * cursor makes the last two tell each frame once.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { CallToolRequestSchema, type CallToolResult, type ServerNotification } from '@modelcontextprotocol/sdk/types.js';
import { CfWorkerJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/cfworker';
import { z } from 'zod';
import { secretsOf, type Env } from '../control/env';
import { verifyLink } from '../control/links';
import { createAccount } from '../control/accounts';
import { parseMintRequest } from '../control/mint';
import { conversationStub } from '../conversation/conversation-stub';
import { mintConversation } from '../conversation/mint';
import { AmsError } from '../protocol/errors';
import { exceedsUtf8Bytes, type JsonObject, type Scope } from '../protocol/frames';
import { LIMITS } from '../protocol/limits';
import { isAcceptableMetadata } from '../protocol/validate';
import { toolError, type ToolErrorCode } from './errors';
import { parseMagicLink, type LinkAddress } from './link';
import { closedNotification, notificationsFor, type AmsNotification } from './notifications';
import { signResumeKey, verifyResumeKey, type ResumeClaims } from './resume-key';
import { mcpConversation, type Doorbell, type JoinArgs, type McpConversationRpc, type MemberRef, type Outcome, type Received } from './rpc';
import { INSTRUCTIONS, TOOL_INPUTS, TOOL_TEXT, type ToolArgs, type ToolName } from './tools';

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
  joined: JoinedState | null;
  /** Why the last membership ended on the conversation's side, told to the next call that needs one. */
  ended?: { error: ToolErrorCode; message: string } | null;
  notified: number;
  created_at: number;
  last_seen: number;
}

/** A domain failure on its way to becoming an `isError` tool result. */
class ToolFail extends Error {
  constructor(readonly code: ToolErrorCode, message?: string) {
    super(message ?? toolError(code).message);
  }
}

type Notify = (n: AmsNotification) => Promise<void>;
type Extra = { sendNotification: (n: ServerNotification) => Promise<void> };

const TOOL_ANNOTATIONS: Partial<Record<ToolName, { readOnlyHint?: boolean; destructiveHint?: boolean; idempotentHint?: boolean; openWorldHint?: boolean }>> = {
  ams_recv: { readOnlyHint: true, openWorldHint: true },
  ams_peers: { readOnlyHint: true, openWorldHint: true },
  ams_send: { destructiveHint: false, openWorldHint: true },
  ams_join: { destructiveHint: false, idempotentHint: true, openWorldHint: true },
};

function textResult(value: object, isError = false): CallToolResult {
  return { content: [{ type: 'text', text: JSON.stringify(value) }], structuredContent: value as Record<string, unknown>, ...(isError ? { isError } : {}) };
}

export class McpSession {
  readonly server: McpServer;
  readonly transport: WebStandardStreamableHTTPServerTransport;
  /** The GET stream now held (0: none); each new GET gets the next number. */
  private getOpen = 0;
  private getCount = 0;
  /** The registration of the GET stream now held: rings carrying another tag are for a stream that is gone. */
  private listenTag: string | null = null;
  private renewTimer: ReturnType<typeof setInterval> | undefined;
  /** One pull at a time; a doorbell during a pull asks for one more. */
  private pulling = false;
  private pullAgain = false;
  private pullFailures = 0;

  /** `listenerId` is this session's object id: what the conversation rings. */
  constructor(private readonly env: Env, readonly state: SessionState, private readonly save: () => Promise<void>, private readonly listenerId: string) {
    this.server = new McpServer(
      { name: 'ams', title: 'AMS — Agent Messaging Service', version: '1.0.0' },
      { instructions: INSTRUCTIONS, jsonSchemaValidator: new CfWorkerJsonSchemaValidator(), capabilities: { tools: {} } },
    );
    for (const name of Object.keys(TOOL_INPUTS) as ToolName[]) {
      this.server.registerTool(name, { ...TOOL_TEXT[name], inputSchema: TOOL_INPUTS[name], annotations: TOOL_ANNOTATIONS[name] },
        () => textResult(toolError('internal_error'), true));
    }
    // tools/call is ours: schema errors become `{error: "invalid_arguments"}` results like every other failure.
    this.server.server.setRequestHandler(CallToolRequestSchema, (req, extra) => this.call(req.params.name, req.params.arguments, extra));
    this.transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: () => state.id });
  }

  /** Whether the client holds the GET stream now (an idle session that listens is not collected). */
  get holdsStream(): boolean {
    return this.getOpen !== 0;
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
  async handle(request: Request): Promise<Response> {
    if (request.method !== 'GET') return this.transport.handleRequest(request);
    // A client reconnecting its GET must not get 409 because the old stream has not noticed it is dead.
    this.transport.closeStandaloneSSEStream();
    const res = await this.transport.handleRequest(request);
    if (res.status !== 200 || !res.body) return res;
    const n = ++this.getCount;
    this.getOpen = n;
    this.listenTag = crypto.randomUUID();
    clearInterval(this.renewTimer);
    this.renewTimer = setInterval(() => void this.listen(), LIMITS.mcpListenRenewMs);
    const body = watchEnd(res.body, () => {
      if (this.getOpen === n) this.stopListening(true);
    });
    void this.listen();
    return new Response(body, { status: res.status, headers: res.headers });
  }

  /** Ends the session's membership (DELETE, idle collection). */
  async leave(): Promise<void> {
    const j = this.state.joined;
    this.state.joined = null;
    this.stopListening(false);
    if (j) await this.rpc(j).mcpLeave(j.ref).catch(() => undefined);
  }

  /** The GET stream is gone: no more renewals, and (if `tell`) the conversation stops ringing. */
  private stopListening(tell: boolean): void {
    const tag = this.listenTag;
    this.getOpen = 0;
    this.listenTag = null;
    clearInterval(this.renewTimer);
    this.renewTimer = undefined;
    const j = this.state.joined;
    if (tell && j && tag) {
      this.rpc(j).mcpUnlisten(j.ref.member_id, tag).catch((err: unknown) => console.error('AMS MCP session: unlisten failed', err));
    }
  }

  private rpc(j: { ns: string; alias: string }): McpConversationRpc {
    return mcpConversation(this.env, j.ns, j.alias);
  }

  // ---- tools/call ----

  private async call(name: string, rawArgs: unknown, extra: Extra): Promise<CallToolResult> {
    const notify: Notify = (n) => extra.sendNotification(n as unknown as ServerNotification);
    if (!Object.hasOwn(TOOL_INPUTS, name)) return textResult(toolError('unknown_tool', `There is no tool named "${name}".`), true);
    const tool = name as ToolName;
    const parsed = TOOL_INPUTS[tool].safeParse(rawArgs ?? {});
    if (!parsed.success) return textResult(toolError('invalid_arguments', `${tool}: ${z.prettifyError(parsed.error)}`), true);
    // The schema's copy of a record drops keys such as "__proto__"; metadata must travel exactly as sent.
    const args = parsed.data as Record<string, unknown>;
    for (const key of ['metadata', 'stream_metadata']) if (args[key] !== undefined) args[key] = (rawArgs as Record<string, unknown>)[key];
    let result: CallToolResult;
    try {
      result = textResult(await this.run(tool, parsed.data, notify));
    } catch (err) {
      if (err instanceof ToolFail) result = textResult(toolError(err.code, err.message), true);
      else if (err instanceof AmsError) result = textResult(toolError(err.code, err.message), true);
      else {
        console.error(`AMS MCP session: ${tool} failed`, err);
        result = textResult(toolError('internal_error'), true);
      }
    }
    if (tool !== 'ams_recv' && this.getOpen === 0 && this.state.joined) await this.rideAlong(notify).catch(() => undefined);
    return result;
  }

  private run(tool: ToolName, args: unknown, notify: Notify): Promise<object> {
    switch (tool) {
      case 'ams_create_conversation': return this.create(args as ToolArgs<'ams_create_conversation'>);
      case 'ams_join': return this.join(args as ToolArgs<'ams_join'>);
      case 'ams_send': return this.send(args as ToolArgs<'ams_send'>, notify);
      case 'ams_recv': return this.recv(args as ToolArgs<'ams_recv'>, notify);
      case 'ams_set_metadata': return this.setMetadata(args as ToolArgs<'ams_set_metadata'>, notify);
      case 'ams_leave': return this.leaveTool(args as ToolArgs<'ams_leave'>, notify);
      case 'ams_peers': return this.peers(args as ToolArgs<'ams_peers'>, notify);
    }
  }

  // ---- the tools ----

  private async create(a: ToolArgs<'ams_create_conversation'>): Promise<object> {
    const req = parseMintRequest(a as JsonObject);
    let fresh: { account_id: string; namespace: string; credential: string } | undefined;
    if (this.state.namespace === null) {
      if (this.env.AMS_SIGNUP_TOKEN) throw new AmsError('signup_forbidden', 'This broker creates accounts only with its signup token: connect with a bearer credential to create conversations.');
      fresh = await this.freshAccount();
      // The session now speaks as that account, so joining the new conversation gets the minted stream.
      this.state.account_id = fresh.account_id;
      this.state.namespace = fresh.namespace;
      await this.save();
    }
    const minted = await mintConversation(this.env, this.state.origin, this.state.namespace!, this.state.account_id, req);
    return fresh ? { ...minted, account_id: fresh.account_id, namespace: fresh.namespace, credential: fresh.credential } : minted;
  }

  private async freshAccount(): Promise<{ account_id: string; namespace: string; credential: string }> {
    for (let attempt = 0; ; attempt++) {
      const bytes = crypto.getRandomValues(new Uint8Array(10));
      const namespace = `mcp-${[...bytes].map((b) => 'abcdefghijklmnopqrstuvwxyz0123456789'[b % 36]).join('')}`;
      try {
        const account = await createAccount(this.env, namespace);
        return { account_id: account.account_id, namespace, credential: account.credential };
      } catch (err) {
        if (!(err instanceof AmsError && err.code === 'namespace_taken') || attempt >= 3) throw err;
      }
    }
  }

  private async join(a: ToolArgs<'ams_join'>): Promise<object> {
    const secret = secretsOf(this.env).linkSecret;
    if (a.stream_metadata !== undefined && !isAcceptableMetadata(a.stream_metadata)) throw new ToolFail('invalid_stream_metadata');
    let target: { ns: string; alias: string };
    let args: JoinArgs;
    if (a.resume_key !== undefined) {
      const rk = this.checkedKey(a.resume_key);
      if (a.magic_link !== undefined) {
        const addr = parseMagicLink(a.magic_link);
        if (!addr || addr.ns !== rk.ns || addr.alias !== rk.alias) throw new ToolFail('resume_key_mismatch', 'The resume_key is for another conversation than magic_link.');
      }
      target = rk;
      args = { resume: rk, account_id: this.state.account_id, since: a.since };
    } else {
      const addr = a.magic_link !== undefined ? parseMagicLink(a.magic_link) : this.state.bound;
      if (a.magic_link === undefined && !addr) throw new ToolFail('invalid_arguments', 'magic_link is required on the bare /mcp endpoint (or call ams_create_conversation first).');
      if (!addr) throw new ToolFail('invalid_magic_link', 'magic_link is not a magic link: expected https://{host}/{ns}/conversations/{alias}?t={token}.');
      const check = verifyLink(secret, addr.ns, addr.alias, addr.t, Date.now() / 1000);
      if (!check.ok) {
        throw new ToolFail('invalid_magic_link', check.why === 'expired' ? 'The magic link has expired.' : 'The magic link is not valid on this broker: its token is missing, altered, or was minted by another broker.');
      }
      target = addr;
      const j = this.state.joined;
      // Joining where the session already is continues the membership; asking for other settings rejoins.
      const same = j && j.conversation_id === check.claims.conversation_id && j.scope === check.claims.scope
        && (a.stream_name === undefined || a.stream_name === j.stream_name) && a.stream_metadata === undefined && a.self_subscribe === undefined;
      args = same
        ? { resume: { conversation_id: j.conversation_id, member_id: j.ref.member_id, account_id: j.account_id, generation: check.claims.generation }, account_id: this.state.account_id, since: a.since }
        : { claims: check.claims, account_id: this.state.account_id, stream_name: a.stream_name, stream_metadata: a.stream_metadata as JsonObject | undefined, self_subscribe: a.self_subscribe, since: a.since };
    }
    const prev = this.state.joined;
    if (prev && prev.ref.member_id !== args.resume?.member_id) {
      this.state.joined = null;
      await this.rpc(prev).mcpLeave(prev.ref).catch(() => undefined);
    }
    return this.attach(target, args);
  }

  /** Joins (or continues) a membership and makes it the session's. */
  private async attach(target: { ns: string; alias: string }, args: JoinArgs): Promise<object> {
    const out = await this.rpc(target).mcpJoin(args);
    if (!out.ok) throw new ToolFail(out.error, out.message);
    const v = out.value;
    const resume_key = signResumeKey(secretsOf(this.env).linkSecret, {
      ns: target.ns, alias: target.alias, conversation_id: v.conversation_id, member_id: v.ref.member_id, account_id: v.account_id, generation: v.generation,
    });
    this.state.joined = {
      ns: target.ns, alias: target.alias, conversation_id: v.conversation_id, ref: v.ref, account_id: v.account_id,
      stream_id: v.stream_id, stream_name: v.stream_name, scope: v.scope, resume_key,
    };
    this.state.notified = v.cursor;
    this.state.ended = null;
    await this.save();
    void this.listen();
    return {
      conversation_id: v.conversation_id, stream_id: v.stream_id, stream_name: v.stream_name, scope: v.scope,
      metadata: v.metadata, self_subscribe: v.self_subscribe, peers: v.peers, seq: v.seq, epoch: v.epoch, resumed: v.resumed,
      next_since: v.cursor, account_id: v.account_id, resume_key,
    };
  }

  private checkedKey(key: string): ResumeClaims {
    const rk = verifyResumeKey(secretsOf(this.env).linkSecret, key);
    if (!rk) throw new ToolFail('invalid_resume_key');
    if (this.state.credential_hash !== null && rk.account_id !== null && rk.account_id !== this.state.account_id) {
      throw new ToolFail('resume_key_mismatch', 'The resume_key belongs to another account than this session\'s bearer credential.');
    }
    return rk;
  }

  /** The membership a call acts on: the session's, or the one its resume_key names. */
  private async membership(resumeKey: string | undefined): Promise<JoinedState> {
    const j = this.state.joined;
    if (resumeKey === undefined) {
      if (!j && this.state.ended) throw new ToolFail(this.state.ended.error, `${this.state.ended.message} (Your membership ended; call ams_join to join again.)`);
      if (!j) throw new ToolFail('not_joined');
      return j;
    }
    const rk = this.checkedKey(resumeKey);
    if (j) {
      if (j.ref.member_id === rk.member_id && j.conversation_id === rk.conversation_id) return j;
      throw new ToolFail('resume_key_mismatch', `This session is joined as ${j.stream_name ?? 'an observer'} in ${j.ns}/${j.alias}; the resume_key is for another membership.`);
    }
    await this.attach(rk, { resume: rk, account_id: this.state.account_id });
    return this.state.joined!;
  }

  /** Calls the conversation; a membership it ended is dropped from the session and announced. */
  private async onConv<T>(j: JoinedState, call: (c: McpConversationRpc) => Promise<Outcome<T>>, notify?: Notify): Promise<T> {
    const out = await call(this.rpc(j));
    if (out.ok) return out.value;
    if (out.ended) await this.ended(j, out.error, out.message ?? toolError(out.error).message, notify);
    throw new ToolFail(out.error, out.message);
  }

  private async ended(j: JoinedState, reason: string, message: string, notify?: Notify): Promise<void> {
    if (this.state.joined?.ref.lease !== j.ref.lease) return;
    this.state.joined = null;
    this.state.ended = { error: reason as ToolErrorCode, message };
    await this.save();
    const n = closedNotification(reason, message, { conversation_id: j.conversation_id, stream_id: j.stream_id });
    await (notify ?? ((x: AmsNotification) => this.push(x)))(n).catch(() => undefined);
  }

  private async send(a: ToolArgs<'ams_send'>, notify: Notify): Promise<object> {
    if (exceedsUtf8Bytes(a.data, LIMITS.tokenBytes)) throw new ToolFail('token_too_large');
    if (!a.data.isWellFormed()) throw new ToolFail('invalid_token', 'data holds a lone surrogate.');
    const j = await this.membership(a.resume_key);
    const v = await this.onConv(j, (c) => c.mcpSend(j.ref, { data: a.data, ref: a.ref, id: a.id }), notify);
    return { seq: v.seq, ...(v.duplicate ? { duplicate: true } : {}) };
  }

  private async recv(a: ToolArgs<'ams_recv'>, notify: Notify): Promise<object> {
    const j = await this.membership(a.resume_key);
    const v = await this.onConv(j, (c) => c.mcpRecv(j.ref, { since: a.since, wait_ms: a.wait_ms ?? 0, max: a.max ?? LIMITS.mcpRecvDefault, advance: true }), notify);
    if (v.next_since > this.state.notified && this.state.joined === j) {
      this.state.notified = v.next_since;
      await this.save();
    }
    return { frames: v.frames, next_since: v.next_since, head_seq: v.head_seq, ...(v.truncated ? { truncated: v.truncated } : {}) };
  }

  private async setMetadata(a: ToolArgs<'ams_set_metadata'>, notify: Notify): Promise<object> {
    if (!isAcceptableMetadata(a.metadata)) throw new ToolFail('invalid_metadata');
    const j = await this.membership(a.resume_key);
    return this.onConv(j, (c) => c.mcpSetMetadata(j.ref, a.metadata as JsonObject), notify);
  }

  private async leaveTool(a: ToolArgs<'ams_leave'>, notify: Notify): Promise<object> {
    const j = await this.membership(a.resume_key);
    const v = await this.onConv(j, (c) => c.mcpLeave(j.ref), notify);
    this.state.joined = null;
    this.state.ended = null;
    await this.save();
    return { left: true, conversation_id: j.conversation_id, stream_id: j.stream_id, seq: v.seq };
  }

  private async peers(a: ToolArgs<'ams_peers'>, notify: Notify): Promise<object> {
    const j = await this.membership(a.resume_key);
    return this.onConv(j, (c) => c.mcpPeers(j.ref), notify);
  }

  // ---- notifications ----

  /** Tells what arrived since the last notification, on the response of the tool call at hand. */
  private async rideAlong(notify: Notify): Promise<void> {
    const j = this.state.joined!;
    const out = await this.rpc(j).mcpRecv(j.ref, { since: this.state.notified, wait_ms: 0, max: LIMITS.mcpRecvDefault, advance: false });
    if (out.ok) await this.deliver(j, out.value, notify);
  }

  private async deliver(j: JoinedState, r: Received, notify: Notify): Promise<void> {
    if (this.state.joined !== j) return;
    const { list, notified } = notificationsFor(r, this.state.notified);
    this.state.notified = notified;
    for (const n of list) await notify(n);
    if (list.length > 0) await this.save();
  }

  /** Sends on the GET stream (dropped by the SDK when none is open). */
  private push(n: AmsNotification): Promise<void> {
    return this.server.server.notification(n as unknown as ServerNotification);
  }

  /**
   * While a GET stream is open: register it with the conversation (again every
   * `mcpListenRenewMs`, which keeps the membership present), then catch up.
   */
  private async listen(retry = true): Promise<void> {
    const j = this.state.joined;
    const tag = this.listenTag;
    if (!j || !tag || this.getOpen === 0) return;
    let out: Outcome<{ head_seq: number }>;
    try {
      out = await this.rpc(j).mcpListen(j.ref, { object: this.listenerId, tag });
    } catch (err) {
      console.error('AMS MCP session: registering the GET stream failed', err);
      // Once more shortly (a conversation object restarting fails calls in flight); else at the next renewal.
      if (retry) setTimeout(() => void this.listen(false), 1_000);
      return;
    }
    if (out.ok) this.pull();
    else if (out.ended) await this.ended(j, out.error, out.message ?? toolError(out.error).message);
  }

  /** The conversation's doorbell: answers at once whether this session still listens for that membership. */
  rang(bell: Doorbell): boolean {
    const j = this.state.joined;
    if (this.getOpen === 0 || bell.tag !== this.listenTag || !j || j.ref.member_id !== bell.member_id) return false;
    if (bell.ended || bell.head > this.state.notified) this.pull();
    return true;
  }

  /** Reads past `notified` (a short call, no wait) and pushes it on the GET stream; one pull at a time. */
  private pull(): void {
    if (this.pulling) {
      this.pullAgain = true;
      return;
    }
    this.pulling = true;
    void (async () => {
      try {
        do {
          this.pullAgain = false;
          await this.pullOnce();
        } while (this.pullAgain && this.getOpen !== 0);
      } finally {
        this.pulling = false;
      }
    })();
  }

  private async pullOnce(): Promise<void> {
    const j = this.state.joined;
    if (!j || this.getOpen === 0) return;
    let out: Outcome<Received>;
    try {
      out = await this.rpc(j).mcpRecv(j.ref, { since: this.state.notified, wait_ms: 0, max: LIMITS.mcpRecvDefault, advance: false });
    } catch (err) {
      console.error('AMS MCP session: pulling notifications failed', err);
      // A few quick retries; after that the next doorbell or renewal catches up.
      if (++this.pullFailures <= 3) setTimeout(() => this.pull(), 500 * 2 ** this.pullFailures);
      return;
    }
    this.pullFailures = 0;
    if (out.ok) {
      await this.deliver(j, out.value, (x) => this.push(x)).catch(() => undefined);
      if (out.value.next_since < out.value.head_seq && this.state.joined === j) this.pullAgain = true;
    } else if (out.ended) {
      await this.ended(j, out.error, out.message ?? toolError(out.error).message);
    }
  }
}

/** Passes a response body through, calling `onEnd` once when it finishes or the client goes away. */
function watchEnd(body: ReadableStream<Uint8Array>, onEnd: () => void): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let ended = false;
  const end = () => {
    if (!ended) {
      ended = true;
      onEnd();
    }
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          end();
          controller.close();
        } else controller.enqueue(value);
      } catch (err) {
        end();
        controller.error(err);
      }
    },
    cancel(reason) {
      end();
      return reader.cancel(reason);
    },
  });
}
