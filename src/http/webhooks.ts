/**
 * `{link path}/webhooks`: registering, listing, deleting and re-enabling the
 * webhooks of a conversation (decisions 0135–0139). Every call needs a
 * write link (`?t=`) and a bearer credential; the conversation object
 * decides the rest (limits, who may see which webhook). The secret is made
 * here, answered once, and kept only by the webhook's own object.
 */
import { Hono } from 'hono';
import { conversationStub } from '../conversation/conversation-stub';
import { newWebhookSecret } from '../conversation/webhooks/deliver';
import type { Caller, HookOutcome } from '../conversation/webhooks/hub';
import { secretsOf, type Env } from '../control/env';
import { newStreamName, newWebhookId } from '../control/ids';
import { AmsError } from '../protocol/errors';
import { LIMITS } from '../protocol/limits';
import { parseWebhookRequest } from '../protocol/webhooks';
import { readJsonObject } from './body';
import { httpAdmission } from './stream';

export const webhooks = new Hono<{ Bindings: Env }>();

type Ctx = Parameters<typeof httpAdmission>[0];

/** The caller: a valid write link and the account of its credential (the object checks the link against the conversation). */
async function callerOf(c: Ctx) {
  const { ns, alias, a } = await httpAdmission(c);
  if (!a.claims) throw new AmsError('invalid_magic_link');
  if (a.claims.scope !== 'write') throw new AmsError('read_only', 'Webhooks need a write link.');
  if (a.account.status === 'missing') throw new AmsError('missing_credential');
  if (a.account.status !== 'ok') throw new AmsError('invalid_credential');
  const caller: Caller = { claims: a.claims, accountId: a.account.account_id };
  return { ns, alias, caller, stub: conversationStub(c.env, ns, alias) };
}

function answer<T>(out: HookOutcome<T>): T {
  if (!out.ok) throw new AmsError(out.error, out.message);
  return out.value;
}

webhooks.post('/:ns/conversations/:alias/webhooks', async (c) => {
  const { ns, alias, caller, stub } = await callerOf(c);
  const req = parseWebhookRequest(await readJsonObject(c.req.raw, LIMITS.controlBodyBytes, false), secretsOf(c.env).development);
  if ('error' in req) throw new AmsError(req.error, req.message);
  const webhookId = newWebhookId();
  const secret = newWebhookSecret();
  const config = { webhook_id: webhookId, namespace: ns, alias, url: req.url, secret };
  const made = answer(await stub.webhookRegister(caller, req, config, newStreamName().replace(/^stream-/, 'webhook-')));
  return c.json({ ...made, url: req.url, subscribe: req.subscribe ?? null, notify: req.notify, events: req.events, secret }, 201);
});

webhooks.get('/:ns/conversations/:alias/webhooks', async (c) => {
  const { caller, stub } = await callerOf(c);
  return c.json({ webhooks: answer(await stub.webhookList(caller)) });
});

webhooks.delete('/:ns/conversations/:alias/webhooks/:id', async (c) => {
  const { caller, stub } = await callerOf(c);
  return c.json(answer(await stub.webhookDelete(caller, c.req.param('id'))));
});

webhooks.post('/:ns/conversations/:alias/webhooks/:id/enable', async (c) => {
  const { caller, stub } = await callerOf(c);
  return c.json(answer(await stub.webhookEnable(caller, c.req.param('id'))));
});
