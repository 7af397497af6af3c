/**
 * Driving the built command line (dist/ams.js) as a user would: `node dist/ams.js …`
 * as a subprocess, with its own credentials file. Also a TCP proxy to cut a
 * connection under a running command.
 */
import { spawn, execFileSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { waitFor } from './support';

const ROOT = resolve(import.meta.dirname, '../..');
export const BIN = join(ROOT, 'dist/ams.js');

/** Builds dist/ams.js exactly as `npm install` does (the `prepare` script). */
export function buildCli(): void {
  execFileSync(process.execPath, [join(ROOT, 'src/cli/build.mjs')], { cwd: ROOT, stdio: 'inherit' });
}

/** An environment of its own: a fresh credentials file, no colour, no inherited AMS_* settings. */
export function cliEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('AMS_') && k !== 'NO_COLOR') env[k] = v;
  return { ...env, AMS_CONFIG: join(mkdtempSync(join(tmpdir(), 'ams-cli-')), 'credentials.json'), ...extra };
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `ams ARGS` to its end. */
export function ams(args: string[], opts: { env: Record<string, string>; input?: string; timeoutMs?: number }): Promise<Run> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: opts.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`ams ${args.join(' ')} did not finish\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, opts.timeoutMs ?? 30_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** A long-running `ams` (tail, pipe, chat): its output as it comes, and a way to stop it. */
export class Live {
  stdout = '';
  stderr = '';
  readonly exited: Promise<number>;

  constructor(readonly child: ChildProcessWithoutNullStreams) {
    child.stdout.on('data', (d) => (this.stdout += d));
    child.stderr.on('data', (d) => (this.stderr += d));
    this.exited = new Promise((r) => child.on('close', (code) => r(code ?? -1)));
  }

  static start(args: string[], env: Record<string, string>, command: string[] = [process.execPath, BIN]): Live {
    return new Live(spawn(command[0]!, [...command.slice(1), ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] }));
  }

  lines(): string[] {
    return this.stdout.split('\n').filter((l) => l !== '');
  }

  async until(what: string | RegExp, timeoutMs = 20_000): Promise<void> {
    const seen = () => (typeof what === 'string' ? this.stdout.includes(what) : what.test(this.stdout));
    await waitFor(seen, timeoutMs, `${what} in the output of ams\nstdout: ${this.stdout}\nstderr: ${this.stderr}`).catch((err) => {
      throw new Error(`${(err as Error).message}\nstdout so far: ${this.stdout}\nstderr so far: ${this.stderr}`);
    });
  }

  async stop(): Promise<number> {
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
    return this.exited;
  }
}

/**
 * A TCP proxy in front of the broker. `cut()` drops every connection through
 * it and refuses new ones until `restore()`: to the command behind it, the
 * broker is gone.
 */
export class CuttableProxy {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private down = false;
  port = 0;

  constructor(private readonly target: number) {
    this.server = createServer((client) => {
      if (this.down) return client.destroy();
      const upstream = connect(this.target, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {});
      }
      client.pipe(upstream);
      upstream.pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
  }

  async listen(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    this.port = (this.server.address() as { port: number }).port;
    return this;
  }

  /** The same link, through the proxy. */
  via(link: string): string {
    const url = new URL(link);
    url.port = String(this.port);
    return url.toString();
  }

  connections(): number {
    return this.sockets.size;
  }

  cut(): void {
    this.down = true;
    for (const s of this.sockets) s.destroy();
  }

  restore(): void {
    this.down = false;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise((r) => this.server.close(() => r(undefined)));
  }
}
