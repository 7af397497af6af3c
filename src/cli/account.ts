/** The commands that talk to the control plane: `account create`, `mint`, `inspect`. */
import { AmsClient, type JsonObject } from '../client';
import { transcriptText } from '../protocol/transcript';
import { hostOrigin, requireCredential, saveAccount } from './config';
import { reaching } from './errors';
import { parseLink } from './link';
import { inspectLink } from './speaker';

const print = (text: string): void => void process.stdout.write(`${text}\n`);

export async function accountCreate(namespace: string, opts: { host?: string; print?: boolean; replace?: boolean; signupToken?: string }): Promise<void> {
  const origin = hostOrigin(opts.host);
  const account = await reaching(origin, () => new AmsClient(origin).createAccount(namespace, opts.signupToken ?? process.env.AMS_SIGNUP_TOKEN));
  if (opts.print) return print(account.credential);
  const { account_id, credential, created_at } = account;
  const path = saveAccount(origin, { account_id, namespace: account.namespace, credential, created_at }, { replace: opts.replace });
  print(`account ${account.namespace} created at ${origin}; its credential is saved in ${path}`);
}

export async function mint(opts: { host?: string; alias?: string; instructions?: string; json?: boolean }): Promise<void> {
  const origin = hostOrigin(opts.host);
  const account = requireCredential(origin);
  const body: JsonObject = {};
  if (opts.alias !== undefined) body.alias = opts.alias;
  // Brokers without conversation instructions ignore the field (unknown body fields are ignored).
  if (opts.instructions !== undefined) body.instructions = opts.instructions;
  const minted = await reaching(origin, () => new AmsClient(origin).createConversation(account, body));
  if (opts.json) return print(JSON.stringify(minted));
  print(minted.magic_link);
  print(minted.observer_link);
}

interface Inspected {
  conversation_id: string;
  namespace: string;
  alias: string;
  head_seq?: number;
  utterance_gap_ms?: number;
  instructions?: string;
  streams: Array<{ stream_name: string; connected: boolean; identity?: { kind?: string; client?: string } }>;
  audience?: { listeners: number };
}

export async function inspect(linkText: string, opts: { json?: boolean }): Promise<void> {
  const info = (await inspectLink(parseLink(linkText))) as unknown as Inspected;
  if (opts.json) return print(JSON.stringify(info, null, 2));
  print(`${info.namespace}/${info.alias}  ${info.conversation_id}`);
  print(`head seq ${info.head_seq ?? 0}, utterance gap ${info.utterance_gap_ms ?? '?'} ms, ${info.audience?.listeners ?? 0} listening`);
  if (info.instructions) print(`instructions: ${transcriptText(info.instructions)}`);
  for (const s of info.streams) {
    const who = s.identity?.kind ? ` (${transcriptText([s.identity.kind, s.identity.client].filter(Boolean).join(', '))})` : '';
    print(`  ${s.connected ? 'live' : 'gone'}  ${s.stream_name}${who}`);
  }
}
