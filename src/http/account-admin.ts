/**
 * Account administration: rotate the credential, list the account's
 * conversations, delete the account (decisions 0145–0147). The account object
 * holds the indexes; what an old credential admitted is ended here, in the
 * conversations the account object names, because only this layer may call them.
 */
import { Hono } from 'hono';
import type { Place } from '../control/account-object';
import { accountStub } from '../control/account-stub';
import { bearerCredential, credentialHashFor, freshCredential } from '../control/accounts';
import { credentialNamespace } from '../control/credentials';
import { fromBase64Url, toBase64Url } from '../control/encoding';
import { secretsOf, type Env } from '../control/env';
import { emit } from '../control/events';
import { conversationStub } from '../conversation/conversation-stub';
import { AmsError } from '../protocol/errors';
import { ALIAS_RE } from '../protocol/validate';
import { requireNamespaceOwner, type AppContext } from './auth';

export const accountAdmin = new Hono<{ Bindings: Env }>();

const PAGE_DEFAULT = 50;
const PAGE_MAX = 100;

/** The stored form of the bearer, which must be a credential of `ns`: 401 when absent or malformed, 403 for another namespace's. */
function ownerHash(c: AppContext, ns: string): string {
  const credential = bearerCredential(c.req.raw);
  if (credential === undefined) throw new AmsError('missing_credential');
  const of = credentialNamespace(credential);
  if (of === undefined) throw new AmsError('invalid_credential');
  if (of !== ns) throw new AmsError('namespace_mismatch', `The credential belongs to namespace "${of}", not "${ns}".`);
  return credentialHashFor(c.env, credential, ns)!;
}

/** Ends what an account's old credential admitted in each conversation it entered; returns how many connections closed. */
async function revokeEverywhere(env: Env, accountId: string, places: Place[]): Promise<number> {
  const closed = await Promise.allSettled(places.map((p) => conversationStub(env, p.ns, p.alias).revokeAccount(accountId)));
  return closed.reduce((n, r) => n + (r.status === 'fulfilled' ? r.value : 0), 0);
}

accountAdmin.post('/v1/:ns/credentials', async (c) => {
  const ns = c.req.param('ns');
  secretsOf(c.env);
  const oldHash = ownerHash(c, ns);
  const fresh = freshCredential(c.env, ns);
  const revoked = await accountStub(c.env, ns).rotate(oldHash, fresh.hash);
  if (!revoked) throw new AmsError('invalid_credential');
  const closed = await revokeEverywhere(c.env, revoked.account_id, revoked.presence);
  emit(c.env, 'credential.rotated', { account: revoked.account_id, ns, generation: revoked.credential_generation, closed });
  return c.json({
    account_id: revoked.account_id, namespace: ns, credential: fresh.credential,
    credential_generation: revoked.credential_generation, rotated_at: new Date().toISOString(), connections_closed: closed,
  }, 201);
});

/** `cursor` is the base64url of the last alias of the previous page: anything else is not a cursor. */
function parseCursor(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const bytes = fromBase64Url(text);
  const alias = bytes ? new TextDecoder().decode(bytes) : '';
  if (!ALIAS_RE.test(alias) || toBase64Url(new TextEncoder().encode(alias)) !== text) throw new AmsError('invalid_page_cursor');
  return alias;
}

function parseLimit(text: string | undefined): number {
  if (text === undefined) return PAGE_DEFAULT;
  const n = Number(text);
  if (!/^[0-9]+$/.test(text) || n < 1 || n > PAGE_MAX) throw new AmsError('invalid_limit', `limit must be an integer from 1 to ${PAGE_MAX}.`);
  return n;
}

accountAdmin.get('/v1/:ns/conversations', async (c) => {
  const ns = c.req.param('ns');
  secretsOf(c.env);
  await requireNamespaceOwner(c, ns);
  const after = parseCursor(c.req.query('cursor'));
  const limit = parseLimit(c.req.query('limit'));
  const rows = (await accountStub(c.env, ns).mintedPage(after, limit)) ?? [];
  const summaries = await Promise.all(rows.map((r) => conversationStub(c.env, ns, r.alias).summary()));
  const last = rows[rows.length - 1];
  return c.json({
    conversations: summaries.filter((s) => s !== null),
    next_cursor: rows.length === limit && last ? toBase64Url(new TextEncoder().encode(last.alias)) : null,
  });
});

accountAdmin.delete('/v1/:ns', async (c, next) => {
  const ns = c.req.param('ns');
  // `/v1/accounts` is where accounts are created, not a namespace to delete.
  if (ns === 'accounts') return next();
  secretsOf(c.env);
  const hash = ownerHash(c, ns);
  const removed = await accountStub(c.env, ns).remove(hash);
  if (removed === 'gone') throw new AmsError('account_not_found');
  if (!removed) throw new AmsError('invalid_credential');
  // Its own conversations close 4910 and their storage goes; elsewhere, what its credential admitted ends.
  const destroyed = await Promise.allSettled(removed.minted.map((m) => conversationStub(c.env, ns, m.alias).destroy()));
  for (const m of removed.minted) emit(c.env, 'conversation.deleted', { ns, alias: m.alias, conversation: m.conversation_id });
  const elsewhere = removed.presence.filter((p) => p.ns !== ns || !removed.minted.some((m) => m.alias === p.alias));
  await revokeEverywhere(c.env, removed.account_id, elsewhere);
  emit(c.env, 'account.deleted', { account: removed.account_id, ns, conversations: removed.minted.length });
  return c.json({
    deleted: true, account_id: removed.account_id, namespace: ns,
    conversations_deleted: destroyed.filter((d) => d.status === 'fulfilled' && d.value).length,
  });
});
