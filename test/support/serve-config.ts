/**
 * The workerd configuration `npm run serve` runs: generated from the top level
 * of `wrangler.toml` (compatibility date and flags, Durable Object classes and
 * whether each keeps SQLite, plain vars), never kept by hand in a second place.
 * Our Worker is the outermost service, as on a deployment, so the runtime's
 * own choices (WebSocket compression among them) are the ones wrangler.toml
 * makes. What plain workerd cannot provide is left out and reported.
 */
import { resolve } from 'node:path';
import { parse } from 'smol-toml';

export interface ServeOptions {
  /** The bundle's modules (file names in the config's directory); the first is the entry. */
  modules: string[];
  /** Absolute path of the state directory (Durable Object storage). */
  stateDir: string;
  /** The project directory: `[assets] directory` is relative to it. */
  root: string;
  port: number;
  /** Text bindings on top of wrangler.toml's vars (AMS_ENV, secrets). */
  vars: Record<string, string>;
  /** Development lets the Worker reach local and private addresses (webhooks to localhost); production only public ones. */
  development: boolean;
}

interface WranglerTop {
  compatibility_date?: string;
  compatibility_flags?: string[];
  vars?: Record<string, unknown>;
  assets?: { directory?: string; binding?: string };
  durable_objects?: { bindings?: { name: string; class_name: string; script_name?: string }[] };
  migrations?: { new_classes?: string[]; new_sqlite_classes?: string[]; deleted_classes?: string[]; renamed_classes?: { from: string; to: string }[] }[];
  [key: string]: unknown;
}

/** Top-level keys that hold bindings; those not handled here are left out (and named in `omitted`). */
const BINDING_KEYS = ['kv_namespaces', 'r2_buckets', 'd1_databases', 'queues', 'services', 'analytics_engine_datasets', 'vectorize', 'ai', 'hyperdrive', 'browser', 'send_email', 'workflows', 'tail_consumers', 'version_metadata', 'images', 'secrets_store_secrets', 'ratelimits'];

export interface GeneratedConfig {
  capnp: string;
  /** Bindings of wrangler.toml that plain workerd cannot provide, left out: the Worker runs without them. */
  omitted: string[];
  compatibilityFlags: string[];
  assetsBinding?: string;
}

/** Which classes keep SQLite, from the migrations in order (a class added with `new_classes` keeps the older key-value store). */
export function sqliteClasses(migrations: WranglerTop['migrations']): Map<string, boolean> {
  const classes = new Map<string, boolean>();
  for (const m of migrations ?? []) {
    for (const c of m.new_sqlite_classes ?? []) classes.set(c, true);
    for (const c of m.new_classes ?? []) classes.set(c, false);
    for (const { from, to } of m.renamed_classes ?? []) {
      classes.set(to, classes.get(from) ?? true);
      classes.delete(from);
    }
    for (const c of m.deleted_classes ?? []) classes.delete(c);
  }
  return classes;
}

const str = (s: string) => JSON.stringify(s);

export function generateConfig(toml: string, opts: ServeOptions): GeneratedConfig {
  const top = parse(toml) as WranglerTop;
  if (!top.compatibility_date) throw new Error('wrangler.toml has no compatibility_date');
  const flags = top.compatibility_flags ?? [];
  const omitted = BINDING_KEYS.filter((k) => top[k] !== undefined);
  const sqlite = sqliteClasses(top.migrations);
  const objects = (top.durable_objects?.bindings ?? []).filter((b) => {
    if (b.script_name) omitted.push(`durable_objects ${b.name} (class of another script)`);
    return !b.script_name;
  });

  const bindings: string[] = [];
  for (const b of objects) bindings.push(`(name = ${str(b.name)}, durableObjectNamespace = ${str(b.class_name)})`);
  const vars: Record<string, string> = {};
  for (const [k, v] of Object.entries(top.vars ?? {})) vars[k] = typeof v === 'string' ? v : JSON.stringify(v);
  for (const [k, v] of Object.entries({ ...vars, ...opts.vars })) bindings.push(`(name = ${str(k)}, text = ${str(v)})`);
  const assetsBinding = top.assets?.directory ? top.assets.binding : undefined;
  if (top.assets && !assetsBinding) omitted.push('assets (no binding name or directory)');
  if (assetsBinding) bindings.push(`(name = ${str(assetsBinding)}, service = "assets")`);

  const [entry, ...rest] = opts.modules;
  const modules = [`(name = ${str(entry)}, esModule = embed ${str(entry)})`, ...rest.map((m) => m.endsWith('.wasm') ? `(name = ${str(m)}, wasm = embed ${str(m)})` : `(name = ${str(m)}, esModule = embed ${str(m)})`)];
  // Every class the Worker exports and binds keeps its storage under the state directory.
  const namespaces = objects.map((b) => `(className = ${str(b.class_name)}, uniqueKey = ${str(`ams-${b.class_name}`)}, enableSql = ${sqlite.get(b.class_name) ?? true})`);
  const allow = opts.development ? '["public", "private", "local"]' : '["public"]';

  const services = [
    `(name = "ams", worker = (
      modules = [${modules.join(', ')}],
      compatibilityDate = ${str(top.compatibility_date)},
      compatibilityFlags = [${flags.map(str).join(', ')}],
      bindings = [${bindings.join(', ')}],
      durableObjectNamespaces = [${namespaces.join(', ')}],
      durableObjectStorage = (localDisk = "state"),
      globalOutbound = "internet"
    ))`,
    `(name = "state", disk = (path = ${str(opts.stateDir)}, writable = true))`,
    `(name = "internet", network = (allow = ${allow}, tlsOptions = (trustBrowserCas = true)))`,
  ];
  if (assetsBinding) {
    // Plain workerd has no assets binding: a small worker of ours serves public/ from a read-only disk service.
    services.push(
      `(name = "assets", worker = (modules = [(name = "assets.js", esModule = embed "assets.js")], compatibilityDate = ${str(top.compatibility_date)}, bindings = [(name = "FILES", service = "public")]))`,
      `(name = "public", disk = (path = ${str(resolve(opts.root, top.assets!.directory!))}, writable = false))`,
    );
  }
  const capnp = `# Generated by test/support/serve.ts from wrangler.toml: edit wrangler.toml, not this file.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    ${services.join(',\n    ')}
  ],
  sockets = [(name = "http", address = ${str(`127.0.0.1:${opts.port}`)}, http = (), service = "ams")]
);
`;
  return { capnp, omitted, compatibilityFlags: flags, assetsBinding };
}
