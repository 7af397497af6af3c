/**
 * MCP revision 2026-07-28: one request, no session (decision 0087). A
 * `StatelessCall` is what the tools act through for that one request: its
 * identity comes from the bearer, or from the `resume_key` the call passes, or
 * is drawn fresh for an anonymous `ams_join`; its membership is the one the
 * `resume_key` names, held with the fixed stateless lease. Nothing is stored
 * outside the conversation's member row.
 *
 * `statelessServer` is the per-request server of `@modelcontextprotocol/server`
 * (v2) over the same tool registry as the 2025-11-25 sessions.
 */
import { Server, type CallToolResult, type ListToolsResult } from '@modelcontextprotocol/server';
import { bearerCredential, checkCredential } from '../control/accounts';
import { secretsOf, type Env } from '../control/env';
import { newAccountId } from '../control/ids';
import { conversationStub } from '../conversation/conversation-stub';
import type { JoinArgs, Outcome } from '../conversation/members/rpc';
import { AmsError, errorBody } from '../protocol/errors';
import { clientFromInfo } from '../protocol/identity';
import type { LinkAddress } from './link';
import { credentialHolds, verifyResumeKey, type ResumeClaims } from './resume-key';
import { admitted, ToolFail, Worded, type JoinedState } from './session';
import { ReadAnswer } from './read-commits';
import { enteredWith, freshAccount, joinedAnswer, ownCredential, type Attached, type HostState, type ToolHost } from './tool-host';
import { STATELESS_INSTRUCTIONS, toolCall, toolList, withOwnerInstructions } from './tools';

/** The lease every stateless holder of a membership acts with: the verified resume_key is the authority, not a session. */
export const STATELESS_LEASE = 'stateless';
/** tools/list is the same for everyone and changes only with a deployment. */
const TOOLS_TTL_MS = 3_600_000;

type ConversationRpc = ReturnType<typeof conversationStub>;

export class StatelessCall implements ToolHost {
  readonly stateless = true;
  readonly state: HostState;
  private key: ResumeClaims | undefined;

  /** `account` is the bearer's account; null for an anonymous caller, who gets a fresh identity until a resume_key says otherwise. */
  constructor(readonly env: Env, origin: string, bound: LinkAddress | null, private readonly account: { account_id: string; namespace: string | null; credential_generation?: number } | null,
    readonly client: string | undefined) {
    this.state = {
      origin, bound, account_id: account?.account_id ?? newAccountId(), namespace: account?.namespace ?? null, credential_generation: account?.credential_generation,
      joined: null, ended: null, notified: 0,
    };
  }

  /** Nothing outlives the request. */
  async save(): Promise<void> {}

  /** There is no session membership to leave. */
  async leaveOtherThan(): Promise<void> {}

  async adoptFreshAccount(): Promise<{ account_id: string; namespace: string; credential: string }> {
    const fresh = await freshAccount(this.env);
    this.state.account_id = fresh.account_id;
    this.state.namespace = fresh.namespace;
    this.state.credential_generation = 1;
    return fresh;
  }

  async attach(target: { ns: string; alias: string }, args: JoinArgs): Promise<Attached> {
    const v = admitted(this.env, target, await this.rpc(target).mcpJoin({ ...args, lease: STATELESS_LEASE, credential: ownCredential(this.state) }));
    return joinedAnswer(this.env, target, v, await enteredWith(this.env, this.state, target, v, args.resume));
  }

  async checkedKey(key: string): Promise<ResumeClaims> {
    const rk = verifyResumeKey(secretsOf(this.env).linkSecret, key);
    if (!rk) throw new ToolFail('invalid_resume_key');
    if (this.account && rk.account_id !== null && rk.account_id !== this.account.account_id) {
      throw new ToolFail('resume_key_mismatch', 'The resume_key belongs to another account than the bearer credential of this request.');
    }
    if (!(await credentialHolds(this.env, rk))) throw new ToolFail('credential_revoked');
    // Without a bearer the key is the identity.
    if (!this.account && rk.account_id !== null) this.state.account_id = rk.account_id;
    this.key = rk;
    return rk;
  }

  async membership(resumeKey: string | undefined): Promise<JoinedState> {
    if (resumeKey === undefined) throw new ToolFail('not_joined', 'Pass the resume_key from ams_join: without an MCP session every call names its membership by it.');
    const rk = await this.checkedKey(resumeKey);
    const observer = rk.member_id.startsWith('obs_');
    return {
      ns: rk.ns, alias: rk.alias, conversation_id: rk.conversation_id, ref: { member_id: rk.member_id, lease: STATELESS_LEASE },
      account_id: rk.account_id, stream_id: observer ? null : rk.member_id, stream_name: null, scope: observer ? 'read' : 'write', resume_key: resumeKey,
    };
  }

  /** Acts on the membership; one a session took over or that was left is first continued by the resume_key, as ams_join would. */
  async onConv<T>(j: JoinedState, call: (c: ConversationRpc) => Promise<Outcome<T>>): Promise<T> {
    const stub = this.rpc(j);
    let out = await call(stub);
    if (!out.ok && (out.error === 'stream_displaced' || out.error === 'not_joined') && this.key) {
      const back = await stub.mcpJoin({ resume: this.key, account_id: this.state.account_id, lease: STATELESS_LEASE });
      if (!back.ok) throw new ToolFail(back.error, back.message);
      out = await call(stub);
    }
    if (out.ok) return out.value;
    throw new ToolFail(out.error, out.message);
  }

  private rpc(j: { ns: string; alias: string }): ConversationRpc {
    return conversationStub(this.env, j.ns, j.alias);
  }
}

function textResult(value: object, isError = false): CallToolResult {
  // ams_recv's transcript is text for a model, without structuredContent (decisions/0095).
  if (value instanceof Worded) return { content: [{ type: 'text', text: value.text }] };
  return { content: [{ type: 'text', text: JSON.stringify(value) }], structuredContent: value as Record<string, unknown>, ...(isError ? { isError } : {}) };
}

/** One tools/call: the bearer (checked per request), then the tool. Failures are AMS errors inside the result. */
async function callTool(env: Env, request: Request, bound: LinkAddress | null, name: string, rawArgs: unknown, client: string | undefined): Promise<CallToolResult> {
  const call = toolCall(name, rawArgs);
  if (!call.ok) return textResult(call.error, true);
  try {
    const credential = bearerCredential(request);
    let account: { account_id: string; namespace: string | null; credential_generation?: number } | null = null;
    if (credential !== undefined) {
      const check = await checkCredential(env, credential);
      if (check.status !== 'ok') return textResult(errorBody('invalid_credential', 'The bearer credential is not valid; call without one to act as a fresh anonymous identity.'), true);
      account = { account_id: check.account_id, namespace: check.namespace, credential_generation: check.credential_generation };
    }
    const host = new StatelessCall(env, new URL(request.url).origin, bound, account, client);
    const value = await call.run(host, async () => undefined);
    if (!(value instanceof ReadAnswer)) return textResult(value);
    // A plain JSON answer cannot be resumed: the position moves unless the client has already gone (decisions/0120).
    if (!request.signal.aborted) await host.onConv(value.j, (c) => c.mcpCommitRead(value.j.ref, value.proposal));
    return textResult(value.value);
  } catch (err) {
    if (err instanceof ToolFail || err instanceof AmsError) return textResult(errorBody(err.code, err.message), true);
    console.error(`AMS MCP (stateless): ${call.name} failed`, err);
    return textResult(errorBody('internal_error'), true);
  }
}

/** The per-request server: tools only; nothing changes at run time, so subscriptions/listen honours no filter. */
export function statelessServer(env: Env, request: Request, bound: LinkAddress | null, conversationInstructions = ''): Server {
  const server = new Server(
    { name: 'ams', title: 'AMS — Agent Messaging Service', version: '1.0.0' },
    { instructions: withOwnerInstructions(STATELESS_INSTRUCTIONS, conversationInstructions), capabilities: { tools: {} }, cacheHints: { 'tools/list': { ttlMs: TOOLS_TTL_MS, cacheScope: 'public' } } },
  );
  server.setRequestHandler('tools/list', () => ({ tools: toolList() as ListToolsResult['tools'] }));
  // Each request names its client in `_meta` (there is no initialize to remember it from).
  server.setRequestHandler('tools/call', (req) => callTool(env, request, bound, req.params.name, req.params.arguments,
    clientFromInfo((req.params._meta as Record<string, unknown> | undefined)?.['io.modelcontextprotocol/clientInfo'])));
  return server;
}
