/**
 * The two bare relays behind the harness interface: `ws` in its own Node
 * process (bench/relay-server.ts) and a Durable Object in workerd
 * (bench/do-relay). Both take sockets at `/{room}/{owner}`.
 */
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import WebSocket from 'ws';
import { ROOT } from '../lib/snapshot';
import { startServed } from '../lib/workerd';
import { closeAll } from './ams';
import { inBatches, noop, type Peer, type Room, type RoomSpec, type Target } from './target';

class RelayPeer implements Peer {
  onMessage: (payload: string, seq: number) => void = noop;
  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => this.onMessage(data.toString(), -1));
  }
  publish(payload: string): void {
    this.ws.send(payload);
  }
}

export class RelayTarget implements Target {
  onError: (message: string) => void = noop;
  private rooms = 0;
  private constructor(readonly name: string, private readonly base: string, private readonly serverPids: () => number[], private readonly shutdown: () => Promise<void>) {}

  /** The bare `ws` relay in a child Node process. */
  static async startNode(): Promise<RelayTarget> {
    const script = resolve(import.meta.dirname, '../relay-server.ts');
    const child = spawn(process.execPath, ['--import', 'tsx', script, '0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    const line = await new Promise<string>((res, rej) => {
      createInterface({ input: child.stdout! }).once('line', res);
      child.once('exit', (code) => rej(new Error(`relay exited with ${code}`)));
    });
    const port = (JSON.parse(line) as { port: number }).port;
    return new RelayTarget('ws relay', `ws://127.0.0.1:${port}`, () => [child.pid!], async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    });
  }

  /** The bare Durable Object relay in plain workerd, run the way `npm run serve` runs AMS (its Worker outermost). */
  static async startWorkerd(): Promise<RelayTarget> {
    const dir = mkdtempSync(join(tmpdir(), 'ams-bench-do-relay-'));
    cpSync(resolve(import.meta.dirname, '../do-relay'), dir, { recursive: true });
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    const w = await startServed(dir);
    const url = w.url.replace(/^http/, 'ws');
    const target = new RelayTarget('workerd DO relay', url, w.pids, async () => {
      await w.broker.stop();
      rmSync(dir, { recursive: true, force: true });
      rmSync(w.broker.stateDir, { recursive: true, force: true });
    });
    return target;
  }

  pids(): number[] {
    return this.serverPids();
  }

  private open(path: string): Promise<WebSocket> {
    const ws = new WebSocket(`${this.base}${path}`, { perMessageDeflate: false });
    return new Promise((res, rej) => {
      ws.once('open', () => res(ws));
      ws.once('error', rej);
      ws.on('close', (code) => {
        if (!(ws as { benchClosing?: boolean }).benchClosing) this.onError(`${this.name}: ${path} closed ${code}`);
      });
    });
  }

  async room(spec: RoomSpec): Promise<Room> {
    const room = `r${this.rooms++}`;
    const sockets: WebSocket[] = [];
    const owners: RelayPeer[][] = await Promise.all(spec.owners.map((count, o) =>
      inBatches(Array.from({ length: count }, (_, i) => i), 32, async () => {
        const ws = await this.open(`/${room}/o${o}`);
        sockets.push(ws);
        return new RelayPeer(ws);
      })));
    const listeners: RelayPeer[] = [];
    const addListeners = async (n: number) => {
      const opened = await inBatches(Array.from({ length: n }, (_, i) => i), 32, async () => {
        const ws = await this.open(`/${room}/listener`);
        sockets.push(ws);
        return new RelayPeer(ws);
      });
      listeners.push(...opened);
    };
    await addListeners(spec.listeners);
    return { owners, listeners, addListeners, close: () => closeAll(sockets) };
  }

  async stop(): Promise<void> {
    await this.shutdown();
  }
}
