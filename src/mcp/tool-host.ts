/**
 * What a tool acts through: an MCP session (2025-11-25, `McpSession`) or one
 * stateless request (2026-07-28, `StatelessCall`). The tool registry is
 * written once against this surface, so both revisions run the same tools.
 */
import { createAccount } from '../control/accounts';
import { secretsOf, type Env } from '../control/env';
import type { JoinArgs, Joined, Outcome } from '../conversation/members/rpc';
import { AmsError } from '../protocol/errors';
import { accountStub } from '../control/account-stub';
import { signResumeKey, type CredentialClaim } from './resume-key';
import type { conversationStub } from '../conversation/conversation-stub';
import type { ResumeClaims } from './resume-key';
import type { NotifyMode } from './channel';
import type { JoinedState, Notify, SessionState } from './session';

/** The result of joining (or continuing) a membership, as ams_join returns it. */
export type Attached = Record<string, unknown> & { resume_key: string; next_since: number };

export type HostState = Pick<SessionState, 'origin' | 'bound' | 'account_id' | 'namespace' | 'credential_generation' | 'joined' | 'ended' | 'notified'>;

export interface ToolHost {
  readonly env: Env;
  readonly state: HostState;
  /** True when nothing outlives the request: the resume_key is the caller's only membership. */
  readonly stateless: boolean;
  /** The MCP client, `name/version` from its `clientInfo` (the session's initialize, or the request's `_meta`). */
  readonly client: string | undefined;
  save(): Promise<void>;
  adoptFreshAccount(): Promise<{ account_id: string; namespace: string; credential: string }>;
  leaveOtherThan(memberId: string | undefined): Promise<void>;
  /** `notify`: what the channel push tells this caller (sessions only; a stateless call has no push). */
  attach(target: { ns: string; alias: string }, args: JoinArgs, notify?: NotifyMode): Promise<Attached>;
  /** A genuine key this caller may use, whose credential still holds. */
  checkedKey(key: string): Promise<ResumeClaims>;
  membership(resumeKey: string | undefined): Promise<JoinedState>;
  onConv<T>(j: JoinedState, call: (c: ReturnType<typeof conversationStub>) => Promise<Outcome<T>>, notify?: Notify): Promise<T>;
}

/** The resume_key for a membership just joined, and what ams_join answers with it. */
export function joinedAnswer(env: Env, target: { ns: string; alias: string }, v: Joined, credential?: CredentialClaim): Attached {
  const resume_key = signResumeKey(secretsOf(env).linkSecret, {
    ns: target.ns, alias: target.alias, conversation_id: v.conversation_id, member_id: v.ref.member_id, account_id: v.account_id, generation: v.generation,
    epoch: v.epoch, ...(v.expires_at !== undefined ? { expires_at: v.expires_at } : {}), ...(credential ? { credential } : {}),
  });
  return {
    conversation_id: v.conversation_id, stream_id: v.stream_id, stream_name: v.stream_name, scope: v.scope,
    metadata: v.metadata, identity: v.identity, self_subscribe: v.self_subscribe, ...(v.subscribed_streams ? { subscribed_streams: v.subscribed_streams } : {}), peers: v.peers, seq: v.seq, epoch: v.epoch, resumed: v.resumed,
    next_since: v.cursor, account_id: v.account_id, resume_key,
    // The owner's words, and what was said lately (the recap moves no cursor: ams_recv still starts at next_since).
    instructions: v.instructions ?? '',
    recap: (v.recap?.messages ?? []).map((m) => ({ from: m.stream_name, text: m.text, first_seq: m.first_seq, last_seq: m.last_seq })),
    ...(v.recap?.note ? { recap_note: v.recap.note } : {}),
  };
}

/**
 * The credential a membership acts under: the caller's own when it acts as its
 * account, else the one of the resume_key it continued; none for observers and
 * anonymous identities. Its account records the conversation, so a rotation
 * reaches it (decision 0145); its resume_key carries it (decision 0146).
 */
export async function enteredWith(env: Env, state: HostState, target: { ns: string; alias: string }, v: Joined, resumed?: JoinArgs['resume']): Promise<CredentialClaim | undefined> {
  if (v.account_id === null) return undefined;
  const own = v.account_id === state.account_id && state.namespace !== null && state.credential_generation !== undefined;
  const claim = own ? { ns: state.namespace!, generation: state.credential_generation! } : resumed?.credential;
  if (claim) await accountStub(env, claim.ns).notePresence({ ns: target.ns, alias: target.alias });
  return claim;
}

/** The credential a caller acts under as its own account (none for an anonymous identity): a join carries it for the presence index (decision 0170). */
export function ownCredential(state: HostState): { ns: string; generation: number } | undefined {
  return state.namespace !== null && state.credential_generation !== undefined ? { ns: state.namespace, generation: state.credential_generation } : undefined;
}

/** A fresh account for a caller that has none (ams_create_conversation without a bearer). */
export async function freshAccount(env: Env): Promise<{ account_id: string; namespace: string; credential: string }> {
  if (env.AMS_SIGNUP_TOKEN) throw new AmsError('signup_forbidden', 'This broker creates accounts only with its signup token: connect with a bearer credential to create conversations.');
  for (let attempt = 0; ; attempt++) {
    const bytes = crypto.getRandomValues(new Uint8Array(10));
    const namespace = `mcp-${[...bytes].map((b) => 'abcdefghijklmnopqrstuvwxyz0123456789'[b % 36]).join('')}`;
    try {
      const account = await createAccount(env, namespace);
      return { account_id: account.account_id, namespace, credential: account.credential };
    } catch (err) {
      if (!(err instanceof AmsError && err.code === 'namespace_taken') || attempt >= 3) throw err;
    }
  }
}
