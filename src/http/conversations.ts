/** The conversation control plane: mint, inspect, delete, and its links. */
import { Hono } from 'hono';
import type { Env } from '../control/env';
import { secretsOf } from '../control/env';
import { emit } from '../control/events';
import { verifyLink } from '../control/links';
import { linkFor, linksFor, parseInstructions, parseMintRequest } from '../control/mint';
import { accountStub } from '../control/account-stub';
import { bearerCredential, checkCredential } from '../control/accounts';
import { claimsValid } from '../conversation/admission';
import { conversationStub } from '../conversation/conversation-stub';
import type { ConversationRecord } from '../protocol/records';
import { mintConversation } from '../conversation/mint';
import { AmsError } from '../protocol/errors';
import { LIMITS } from '../protocol/limits';
import { ALIAS_RE, NAMESPACE_RE } from '../protocol/validate';
import { requireNamespaceOwner } from './auth';
import { readJsonObject } from './body';

export const conversations = new Hono<{ Bindings: Env }>();

/** The conversation at `{ns}/{alias}` or 404 — malformed names simply name nothing. */
export async function existingConversation(env: Env, ns: string, alias: string) {
  if (!NAMESPACE_RE.test(ns) || !ALIAS_RE.test(alias)) throw new AmsError('conversation_not_found');
  const stub = conversationStub(env, ns, alias);
  const record = await stub.describe();
  if (!record) throw new AmsError('conversation_not_found');
  return { stub, record };
}

conversations.post('/v1/:ns/conversations', async (c) => {
  const ns = c.req.param('ns');
  secretsOf(c.env);
  const owner = await requireNamespaceOwner(c, ns);
  const req = parseMintRequest(await readJsonObject(c.req.raw, LIMITS.controlBodyBytes, true));
  const minted = await mintConversation(c.env, new URL(c.req.url).origin, ns, owner.account_id, req);
  return c.json(minted, 201);
});

/** Whether `t` is a valid link of this very conversation (any scope, not expired, current generation and mint). */
export function holdsLink(env: Env, ns: string, alias: string, t: string | undefined, record: ConversationRecord): boolean {
  if (!t) return false;
  const link = verifyLink(secretsOf(env).linkSecret, ns, alias, t, Date.now() / 1000);
  return link.ok && claimsValid(link.claims, record);
}

/**
 * Inspect: any account's bearer, or a link of this conversation. The
 * instructions are for the conversation's participants: told to link holders
 * and to the owner, left out for another account's bearer without the link.
 */
conversations.get('/v1/:ns/conversations/:alias', async (c) => {
  const { ns, alias } = c.req.param();
  secretsOf(c.env);
  const credential = bearerCredential(c.req.raw);
  const t = c.req.query('t');
  let owner = false;
  if (credential !== undefined) {
    const check = await checkCredential(c.env, credential);
    if (check.status !== 'ok') throw new AmsError('invalid_credential');
    const { stub, record } = await existingConversation(c.env, ns, alias);
    owner = check.account_id === record.owner_account_id;
    const seen = await stub.inspect();
    if (seen && !owner && !holdsLink(c.env, ns, alias, t, record)) delete seen.instructions;
    return c.json(seen);
  }
  if (!t) throw new AmsError('missing_credential', 'Inspect needs Authorization: Bearer ams_sk_… or the t= of a magic link.');
  const { stub, record } = await existingConversation(c.env, ns, alias);
  if (!holdsLink(c.env, ns, alias, t, record)) throw new AmsError('invalid_magic_link');
  return c.json(await stub.inspect());
});

/**
 * The owner changes what the conversation is for. Only `instructions` may
 * change: conversation metadata is immutable ([compat]). The change is logged
 * as an `x_conversation_updated` frame every participant hears.
 */
conversations.patch('/v1/:ns/conversations/:alias', async (c) => {
  const { ns, alias } = c.req.param();
  secretsOf(c.env);
  await requireNamespaceOwner(c, ns);
  const body = await readJsonObject(c.req.raw, LIMITS.controlBodyBytes, false);
  if (Object.hasOwn(body, 'metadata')) throw new AmsError('invalid_metadata', 'Conversation metadata is immutable; a PATCH changes only instructions.');
  if (!Object.hasOwn(body, 'instructions')) throw new AmsError('invalid_instructions', 'A PATCH changes instructions: send {"instructions": "…"} (an empty string clears them).');
  const instructions = parseInstructions(body.instructions);
  const { stub } = await existingConversation(c.env, ns, alias);
  const seq = await stub.setInstructions(instructions);
  if (seq === null) throw new AmsError('conversation_not_found');
  return c.json({ alias, instructions, seq });
});

conversations.delete('/v1/:ns/conversations/:alias', async (c) => {
  const { ns, alias } = c.req.param();
  secretsOf(c.env);
  await requireNamespaceOwner(c, ns);
  const { stub, record } = await existingConversation(c.env, ns, alias);
  await stub.destroy();
  const account = accountStub(c.env, ns);
  await account.forgetMinted(alias);
  if (record.id_kind === 'jcs-sha256') await account.releaseDerivedId(record.conversation_id);
  emit(c.env, 'conversation.deleted', { ns, alias, conversation: record.conversation_id });
  return c.json({ deleted: true, conversation_id: record.conversation_id, alias });
});

conversations.post('/v1/:ns/conversations/:alias/links', async (c) => {
  const { ns, alias } = c.req.param();
  secretsOf(c.env);
  await requireNamespaceOwner(c, ns);
  const body = await readJsonObject(c.req.raw, LIMITS.controlBodyBytes, true);
  const scope = body.scope === undefined ? 'write' : body.scope;
  if (scope !== 'write' && scope !== 'read') throw new AmsError('invalid_scope');
  const expiresIn = body.expires_in;
  if (expiresIn !== undefined && (typeof expiresIn !== 'number' || !Number.isInteger(expiresIn) || expiresIn < 1 || expiresIn > LIMITS.linkMaxLifetimeSeconds)) {
    throw new AmsError('invalid_expires_in');
  }
  const { record } = await existingConversation(c.env, ns, alias);
  const expiresAt = expiresIn === undefined ? undefined : Math.floor(Date.now() / 1000) + expiresIn;
  return c.json({
    link: linkFor(c.env, new URL(c.req.url).origin, record, scope, expiresAt),
    scope,
    generation: record.generation,
    expires_at: expiresAt === undefined ? null : new Date(expiresAt * 1000).toISOString(),
  }, 201);
});

conversations.post('/v1/:ns/conversations/:alias/links/rotate', async (c) => {
  const { ns, alias } = c.req.param();
  secretsOf(c.env);
  await requireNamespaceOwner(c, ns);
  const { stub } = await existingConversation(c.env, ns, alias);
  const generation = await stub.rotate();
  const record = await stub.describe();
  if (generation < 0 || !record) throw new AmsError('conversation_not_found');
  emit(c.env, 'conversation.updated', { ns, alias, conversation: record.conversation_id, change: 'links_rotated' });
  return c.json({ generation, ...linksFor(c.env, new URL(c.req.url).origin, record) });
});

