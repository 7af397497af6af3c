/** Registering webhooks from a test: the HTTP calls of `{link}/webhooks`, answered as JSON. */
import { linkRoute } from '../../src/client';

export interface Registered {
  webhook_id: string;
  stream_id: string;
  stream_name: string;
  secret: string;
}

export interface Answered<T = Record<string, unknown>> {
  status: number;
  body: T;
}

async function call<T>(url: string, init: RequestInit): Promise<Answered<T>> {
  const res = await fetch(url, init);
  return { status: res.status, body: (await res.json()) as T };
}

const auth = (credential?: string): Record<string, string> => (credential ? { authorization: `Bearer ${credential}` } : {});

export function registerWebhook(link: string, credential: string | undefined, body: unknown): Promise<Answered<Registered & { error?: string; message?: string }>> {
  return call(linkRoute(link, 'webhooks'), { method: 'POST', headers: { 'content-type': 'application/json', ...auth(credential) }, body: JSON.stringify(body) });
}

export interface Listed {
  webhook_id: string;
  stream_name: string;
  state?: string;
  disabled?: { reason: string; last_error: string | null } | null;
  backlog?: { messages: number; bytes: number; skipped: number };
  last_reply_error?: { reason: string } | null;
  [k: string]: unknown;
}

export async function listWebhooks(link: string, credential: string): Promise<Listed[]> {
  const { status, body } = await call<{ webhooks: Listed[] }>(linkRoute(link, 'webhooks'), { headers: auth(credential) });
  if (status !== 200) throw new Error(`list answered ${status}: ${JSON.stringify(body)}`);
  return body.webhooks;
}

export function deleteWebhook(link: string, credential: string, id: string): Promise<Answered> {
  return call(linkRoute(link, `webhooks/${id}`), { method: 'DELETE', headers: auth(credential) });
}

export function enableWebhook(link: string, credential: string, id: string): Promise<Answered> {
  return call(linkRoute(link, `webhooks/${id}/enable`), { method: 'POST', headers: auth(credential) });
}
