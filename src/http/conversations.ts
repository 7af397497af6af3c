/** The conversation control plane: mint, inspect, delete, and its links. */
import { Hono } from 'hono';
import type { Env } from '../control/env';
import { secretsOf } from '../control/env';
import { emit } from '../control/events';
import { verifyLink } from '../control/links';
import { linkFor, linksFor, parseMintRequest } from '../control/mint';
import { accountStub } from '../control/account-stub';
import { bearerCredential, checkCredential } from '../control/accounts';
import { conversationStub } from '../conversation/conversation-stub';
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

conversations.get('/v1/:ns/conversations/:alias', async (c) => {
  const { ns, alias } = c.req.param();
  const secrets = secretsOf(c.env);
  const credential = bearerCredential(c.req.raw);
  const t = c.req.query('t');
  if (credential !== undefined) {
    const check = await checkCredential(c.env, credential);
    if (check.status !== 'ok') throw new AmsError('invalid_credential');
    const { stub } = await existingConversation(c.env, ns, alias);
    return c.json(await stub.inspect());
  }
  if (!t) throw new AmsError('missing_credential', 'Inspect needs Authorization: Bearer ams_sk_… or the t= of a magic link.');
  const { stub, record } = await existingConversation(c.env, ns, alias);
  const link = verifyLink(secrets.linkSecret, ns, alias, t, Date.now() / 1000);
  if (!link.ok || link.claims.conversation_id !== record.conversation_id || link.claims.generation !== record.generation) {
    throw new AmsError('invalid_magic_link');
  }
  return c.json(await stub.inspect());
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

