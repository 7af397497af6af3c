/** `ams webhook add|list|rm LINK …`: a conversation's webhooks (participants the broker calls), with a write link and the saved credential. */
import { AmsClient, type JsonObject } from '../client';
import { transcriptText } from '../protocol/transcript';
import { requireCredential } from './config';
import { reaching } from './errors';
import { parseLink, type Link } from './link';

const print = (text: string): void => void process.stdout.write(`${text}\n`);

function withCredential<T>(linkText: string, call: (api: AmsClient, link: Link, credential: string) => Promise<T>): Promise<T> {
  const link = parseLink(linkText);
  const { credential } = requireCredential(link.origin);
  return reaching(link.origin, () => call(new AmsClient(link.origin), link, credential));
}

export async function webhookAdd(linkText: string, url: string, opts: { as?: string; notify?: string; events?: string; json?: boolean }): Promise<void> {
  const body: JsonObject = { url };
  if (opts.as !== undefined) body.stream_name = opts.as;
  if (opts.notify !== undefined) body.notify = opts.notify;
  if (opts.events !== undefined) body.events = opts.events.split(',').map((e) => e.trim()).filter(Boolean);
  const hook = await withCredential(linkText, (api, link, credential) => api.addWebhook(link.url, credential, body));
  if (opts.json) return print(JSON.stringify(hook));
  print(`webhook ${String(hook.webhook_id)} speaks as ${String(hook.stream_name)}`);
  print(`secret ${String(hook.secret)}  (shown only now: the receiver verifies deliveries with it)`);
}

interface Listed {
  webhook_id: string;
  stream_name: string;
  url: string;
  state: string;
  delivered?: number;
  backlog?: { messages: number };
  disabled?: { reason: string } | null;
}

export async function webhookList(linkText: string, opts: { json?: boolean }): Promise<void> {
  const { webhooks } = await withCredential(linkText, (api, link, credential) => api.listWebhooks(link.url, credential));
  if (opts.json) return print(JSON.stringify(webhooks, null, 2));
  if (webhooks.length === 0) return print('no webhooks');
  for (const w of webhooks as unknown as Listed[]) {
    const why = w.disabled ? ` (${w.disabled.reason})` : '';
    print(`${w.webhook_id}  ${w.stream_name}  ${w.state}${why}  delivered ${w.delivered ?? 0}, waiting ${w.backlog?.messages ?? 0}  ${transcriptText(w.url)}`);
  }
}

export async function webhookRemove(linkText: string, id: string): Promise<void> {
  await withCredential(linkText, (api, link, credential) => api.deleteWebhook(link.url, credential, id));
  print(`webhook ${id} removed`);
}
