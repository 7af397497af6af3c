/**
 * Starts a real `wrangler dev` (workerd) for end-to-end tests, benchmarks and
 * the chaos runner, on a free port with its own state directory. `kill()`
 * sends SIGKILL; starting again with the same `stateDir` continues that state.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export interface Broker {
  url: string;
  port: number;
  stateDir: string;
  process: ChildProcess;
  /** Stops gracefully (SIGTERM) and waits for exit. */
  stop(): Promise<void>;
  /** SIGKILL: no chance to flush anything not already durable. */
  kill(): Promise<void>;
  output(): string;
}

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => res(port));
    });
  });
}

const ROOT = resolve(import.meta.dirname, '../..');

/**
 * `root` runs another copy of the project (the benchmark runs a snapshot, so
 * edits in the working tree do not make wrangler reload mid-measurement).
 */
/**
 * `logLevel`: wrangler's, which also filters the Worker's console: `warn` (the default) keeps
 * other tests' output quiet; the events test asks for `log` to read the event lines (decision 0148).
 */
export async function startBroker(opts: { stateDir?: string; port?: number; vars?: Record<string, string>; timeoutMs?: number; root?: string; logLevel?: 'warn' | 'info' | 'log' } = {}): Promise<Broker> {
  const root = opts.root ?? ROOT;
  const port = opts.port ?? (await freePort());
  const stateDir = opts.stateDir ?? mkdtempSync(join(tmpdir(), 'ams-state-'));
  const args = ['dev', '--ip', '127.0.0.1', '--port', String(port), '--persist-to', stateDir, '--inspector-port', String(await freePort()), '--log-level', opts.logLevel ?? 'warn'];
  // A local broker, as `npm start` runs it: development secrets unless the caller passes real ones.
  for (const [k, v] of Object.entries({ AMS_ENV: 'development', ...opts.vars })) args.push('--var', `${k}:${v}`);
  const child = spawn(join(root, 'node_modules/.bin/wrangler'), args, {
    cwd: root,
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1', CI: 'true' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let log = '';
  child.stdout!.on('data', (d) => (log += d));
  child.stderr!.on('data', (d) => (log += d));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  for (;;) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited early:\n${log}`);
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`wrangler dev did not start within the deadline:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { url, port, stateDir, process: child, output: () => log, ...processGroup(child) };
}

/**
 * Stopping a server started `detached` (its own process group, so whatever it
 * spawned goes too): `stop` asks with SIGTERM and insists after 5 s, `kill`
 * gives no chance to flush.
 */
export function processGroup(child: ChildProcess): Pick<Broker, 'stop' | 'kill'> & { exited: Promise<void>; signal(sig: NodeJS.Signals): void } {
  const exited = new Promise<void>((r) => (child.exitCode !== null ? r() : child.once('exit', () => r())));
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, sig);
    } catch {
      // already gone
    }
  };
  return {
    exited,
    signal,
    async stop() {
      if (child.exitCode === null) {
        signal('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
        signal('SIGKILL');
      }
      await exited;
    },
    async kill() {
      signal('SIGKILL');
      await exited;
    },
  };
}
