/**
 * The production-shaped local runtime (`npm run serve`): the bundle a deploy
 * would upload (`wrangler deploy --dry-run`), run by plain `workerd serve`
 * with our Worker as the outermost service and a configuration generated
 * from wrangler.toml (test/support/serve-config.ts). Unlike `wrangler dev`
 * there is no proxy and no router of the dev tooling in front, so what a
 * client negotiates is what the project's compatibility settings say.
 * Returns the same handle as `startBroker`, so tests and the benchmark use
 * either runtime alike.
 */
import { spawn, execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { basename, join, resolve } from 'node:path';
import { parse } from 'smol-toml';
import { promisify } from 'node:util';
import { freePort, processGroup, type Broker } from './broker';
import { generateConfig } from './serve-config';

const ROOT = resolve(import.meta.dirname, '../..');

export interface ServeStartOptions {
  /** The project to run (default: this checkout; the benchmark passes a snapshot). */
  root?: string;
  port?: number;
  stateDir?: string;
  /** Production: AMS_ENV=production with the secrets given here (or from the environment), public network only. */
  production?: boolean;
  secrets?: { AMS_CREDENTIAL_PEPPER?: string; AMS_LINK_SECRET?: string };
  /** A DevTools inspector on this port (profiling). */
  inspectorPort?: number;
  /** workerd's own output also goes to this process's stdout/stderr. */
  inherit?: boolean;
  timeoutMs?: number;
}

export interface Served extends Broker {
  /** Bindings of wrangler.toml left out because plain workerd cannot provide them. */
  omitted: string[];
  compatibilityFlags: string[];
  inspectorPort?: number;
}

/**
 * The workerd binary `wrangler dev` itself runs (wrangler → miniflare → workerd), so the
 * two runtimes differ in shape only, never in version; also the version wrangler checks
 * compatibility dates against.
 */
export function workerdBinary(root: string): { path: string; version: string } {
  const fromWrangler = createRequire(createRequire(join(root, 'package.json')).resolve('wrangler'));
  const workerd = createRequire(fromWrangler.resolve('miniflare'))('workerd') as { default: string; version: string };
  return { path: workerd.default, version: workerd.version };
}

/** The deployable bundle, built as a deploy would build it, into a fresh directory; the entry (named after `main`) first. */
export async function bundle(root: string): Promise<{ dir: string; modules: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'ams-serve-'));
  await promisify(execFile)(join(root, 'node_modules/.bin/wrangler'), ['deploy', '--dry-run', '--outdir', dir, '--env', ''], {
    cwd: root,
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1', CI: 'true' },
    timeout: 120_000,
  });
  const main = String((parse(readFileSync(join(root, 'wrangler.toml'), 'utf8')) as { main?: string }).main ?? 'index.js');
  const entry = `${basename(main).replace(/\.[cm]?[jt]sx?$/, '')}.js`;
  const files = readdirSync(dir);
  if (!files.includes(entry)) throw new Error(`wrangler's dry run wrote no ${entry} in ${dir}: ${files.join(', ')}`);
  const extra = files.filter((f) => f !== entry && /\.(m?js|wasm)$/.test(f));
  return { dir, modules: [entry, ...extra] };
}

function envVars(opts: ServeStartOptions): Record<string, string> {
  if (!opts.production) return { AMS_ENV: 'development' };
  const secrets = { AMS_CREDENTIAL_PEPPER: process.env.AMS_CREDENTIAL_PEPPER, AMS_LINK_SECRET: process.env.AMS_LINK_SECRET, ...opts.secrets };
  const missing = Object.entries(secrets).filter(([, v]) => !v).map(([k]) => k);
  if (missing.length > 0) throw new Error(`--production needs ${missing.join(' and ')} in the environment`);
  return { AMS_ENV: 'production', ...(secrets as Record<string, string>) };
}

export async function startServe(opts: ServeStartOptions = {}): Promise<Served> {
  const root = opts.root ?? ROOT;
  const vars = envVars(opts);
  const port = opts.port ?? (await freePort());
  const stateDir = resolve(opts.stateDir ?? mkdtempSync(join(tmpdir(), 'ams-state-')));
  mkdirSync(stateDir, { recursive: true });
  const { dir, modules } = await bundle(root);
  copyFileSync(resolve(import.meta.dirname, 'serve-assets.js'), join(dir, 'assets.js'));
  const config = generateConfig(readFileSync(join(root, 'wrangler.toml'), 'utf8'), { modules, stateDir, root, port, vars, development: !opts.production });
  // The config may hold production secrets: readable by this user only.
  writeFileSync(join(dir, 'config.capnp'), config.capnp, { mode: 0o600 });

  const args = ['serve', join(dir, 'config.capnp'), '--verbose'];
  if (opts.inspectorPort) args.push(`--inspector-addr=127.0.0.1:${opts.inspectorPort}`);
  const child = spawn(workerdBinary(root).path, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let log = '';
  const collect = (out: NodeJS.WriteStream) => (d: Buffer) => {
    log = (log + d).slice(-200_000);
    if (opts.inherit) out.write(d);
  };
  child.stdout!.on('data', collect(process.stdout));
  child.stderr!.on('data', collect(process.stderr));
  const group = processGroup(child);
  const { signal } = group;
  group.exited.then(() => rmSync(dir, { recursive: true, force: true }));

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  for (;;) {
    if (child.exitCode !== null) throw new Error(`workerd exited early (${child.exitCode}):\n${log}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      signal('SIGKILL');
      throw new Error(`workerd did not answer /healthz in time:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    port,
    stateDir,
    process: child,
    omitted: config.omitted,
    compatibilityFlags: config.compatibilityFlags,
    inspectorPort: opts.inspectorPort,
    output: () => log,
    stop: group.stop,
    kill: group.kill,
  };
}
