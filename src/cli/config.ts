/**
 * Where the command line keeps credentials: one JSON file, mode 0600 in a
 * directory of mode 0700, holding one account per broker origin (a credential
 * is good only at the broker that issued it). The path is `$AMS_CONFIG`, else
 * `$XDG_CONFIG_HOME/ams/credentials.json`, else `~/.config/ams/credentials.json`.
 * `AMS_CREDENTIAL` in the environment wins over the file.
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Account } from '../client';
import { CliError, usageError } from './errors';

export const DEFAULT_HOST = 'http://localhost:8787';

export type SavedAccount = Pick<Account, 'account_id' | 'namespace' | 'credential' | 'created_at'>;

interface ConfigFile {
  accounts: Record<string, SavedAccount>;
}

type Env = Record<string, string | undefined>;

export function configPath(env: Env = process.env): string {
  if (env.AMS_CONFIG) return env.AMS_CONFIG;
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'ams', 'credentials.json');
}

/** `--host`, else `AMS_HOST`, else the local default; as an origin (`http://h:p`). */
export function hostOrigin(host: string | undefined, env: Env = process.env): string {
  const text = host ?? env.AMS_HOST ?? DEFAULT_HOST;
  try {
    const url = new URL(text);
    if (url.protocol === 'http:' || url.protocol === 'https:') return url.origin;
  } catch {
    // reported below
  }
  throw usageError(`not a broker address: ${text} (expected http://host[:port] or https://host)`);
}

function readConfig(path: string): ConfigFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { accounts: {} };
    throw new CliError(`cannot read ${path}: ${(err as Error).message}`);
  }
  try {
    const parsed = JSON.parse(text) as Partial<ConfigFile>;
    return { accounts: parsed.accounts && typeof parsed.accounts === 'object' ? parsed.accounts : {} };
  } catch {
    throw new CliError(`${path} is not valid JSON; fix or remove it`);
  }
}

export function savedAccount(origin: string, env: Env = process.env): SavedAccount | undefined {
  return readConfig(configPath(env)).accounts[origin];
}

/** Saves (never silently replaces) the account for `origin`; returns the file's path. */
export function saveAccount(origin: string, account: SavedAccount, opts: { replace?: boolean } = {}, env: Env = process.env): string {
  const path = configPath(env);
  const config = readConfig(path);
  const old = config.accounts[origin];
  if (old && !opts.replace) {
    throw new CliError(`${path} already holds the account "${old.namespace}" for ${origin}; --replace overwrites it (its credential is then lost), --print only prints the new one`);
  }
  config.accounts[origin] = account;
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  // Written whole then renamed: a crash never leaves half a file, and the file is 0600 from its first byte.
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
  chmodSync(path, 0o600);
  return path;
}

export interface Credential {
  credential: string;
  namespace: string;
}

/**
 * The credential to use at `origin`: `AMS_CREDENTIAL` (its namespace from
 * `AMS_NAMESPACE`, else read from the documented `ams_sk_{namespace}.…` form),
 * else the saved account for that origin.
 */
export function credentialFor(origin: string, env: Env = process.env): Credential | undefined {
  const fromEnv = env.AMS_CREDENTIAL;
  if (fromEnv) {
    const namespace = env.AMS_NAMESPACE ?? /^ams_sk_([a-z0-9][a-z0-9-]{0,62})\./.exec(fromEnv)?.[1];
    if (!namespace) throw usageError('AMS_CREDENTIAL is set but its namespace is unknown: set AMS_NAMESPACE too');
    return { credential: fromEnv, namespace };
  }
  const saved = savedAccount(origin, env);
  return saved && { credential: saved.credential, namespace: saved.namespace };
}

export function requireCredential(origin: string, env: Env = process.env): Credential {
  const found = credentialFor(origin, env);
  if (!found) throw new CliError(`no credential for ${origin}: run \`ams account create NAMESPACE --host ${origin}\`, or set AMS_CREDENTIAL`);
  return found;
}
