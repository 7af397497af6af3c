/** The control plane from a client's side: accounts, conversations, links, inspect, shell routes. */
import type { JsonObject } from '../protocol/frames';

export interface Account {
  account_id: string;
  namespace: string;
  credential: string;
  created_at: string;
}

export interface Minted {
  conversation_id: string;
  alias: string;
  magic_link: string;
  observer_link: string;
  stream_id: string;
  stream_name: string;
  metadata: JsonObject;
  stream_metadata: JsonObject;
  created_at: string;
  epoch: string;
}

export class AmsHttpError extends Error {
  constructor(readonly status: number, readonly error: string, message: string) {
    super(`${status} ${error}: ${message}`);
  }
}

async function json<T>(res: Response): Promise<T> {
  const body = (await res.json()) as T & { error?: string; message?: string };
  if (!res.ok) throw new AmsHttpError(res.status, body.error ?? 'unknown', body.message ?? '');
  return body;
}

/** Talks to one broker at `base` (e.g. `http://127.0.0.1:8787`). */
export class AmsClient {
  constructor(readonly base: string, private readonly fetcher: typeof fetch = fetch) {}

  async createAccount(namespace: string, signupToken?: string): Promise<Account> {
    return json(await this.fetcher(`${this.base}/v1/accounts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(signupToken ? { 'x-ams-signup-token': signupToken } : {}) },
      body: JSON.stringify({ namespace }),
    }));
  }

  async createConversation(account: Pick<Account, 'namespace' | 'credential'>, body: JsonObject = {}): Promise<Minted> {
    return json(await this.fetcher(`${this.base}/v1/${account.namespace}/conversations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${account.credential}` },
      body: JSON.stringify(body),
    }));
  }

  async inspect(namespace: string, alias: string, credential: string): Promise<JsonObject> {
    return json(await this.fetcher(`${this.base}/v1/${namespace}/conversations/${alias}`, { headers: { authorization: `Bearer ${credential}` } }));
  }

  /** Inspect with a link's token instead of a credential (any link of the conversation, read or write). */
  async inspectWithLink(link: string): Promise<JsonObject> {
    const url = new URL(link);
    const token = url.searchParams.get('t') ?? '';
    return json(await this.fetcher(`${this.base}/v1${url.pathname.replace(/\/+$/, '')}?t=${encodeURIComponent(token)}`));
  }

  /** Registers a webhook on a write link (PROTOCOL.md §6 `…/webhooks`); the answer holds the secret, shown once. */
  async addWebhook(link: string, credential: string, body: JsonObject): Promise<JsonObject> {
    return json(await this.fetcher(linkRoute(link, 'webhooks'), {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${credential}` },
      body: JSON.stringify(body),
    }));
  }

  async listWebhooks(link: string, credential: string): Promise<{ webhooks: JsonObject[] }> {
    return json(await this.fetcher(linkRoute(link, 'webhooks'), { headers: { authorization: `Bearer ${credential}` } }));
  }

  async deleteWebhook(link: string, credential: string, id: string): Promise<JsonObject> {
    return json(await this.fetcher(linkRoute(link, `webhooks/${encodeURIComponent(id)}`), { method: 'DELETE', headers: { authorization: `Bearer ${credential}` } }));
  }

  async rotate(account: Pick<Account, 'namespace' | 'credential'>, alias: string): Promise<{ generation: number; magic_link: string; observer_link: string }> {
    return json(await this.fetcher(`${this.base}/v1/${account.namespace}/conversations/${alias}/links/rotate`, {
      method: 'POST', headers: { authorization: `Bearer ${account.credential}` },
    }));
  }
}

/** `{link path}/{route}?t=…` for the shell routes (`events`, `tokens`, `history`, `mcp`). */
export function linkRoute(link: string, route: string, params: Record<string, string> = {}): string {
  const url = new URL(link);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/${route}`;
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return url.toString();
}
