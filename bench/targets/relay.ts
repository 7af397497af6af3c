/** The bare `ws` relay (bench/relay-server.ts) in its own Node process, behind the harness interface. */
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import WebSocket from 'ws';
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
  readonly name = 'ws relay';
  onError: (message: string) => void = noop;
  private rooms = 0;
  private constructor(private readonly child: ChildProcess, private readonly port: number) {}

  static async start(): Promise<RelayTarget> {
    const script = resolve(import.meta.dirname, '../relay-server.ts');
    const child = spawn(process.execPath, ['--import', 'tsx', script, '0'], { cwd: resolve(import.meta.dirname, '../..'), stdio: ['ignore', 'pipe', 'inherit'] });
    const line = await new Promise<string>((res, rej) => {
      createInterface({ input: child.stdout! }).once('line', res);
      child.once('exit', (code) => rej(new Error(`relay exited with ${code}`)));
    });
    return new RelayTarget(child, (JSON.parse(line) as { port: number }).port);
  }

  pids(): number[] {
    return [this.child.pid!];
  }

  private open(path: string): Promise<WebSocket> {
    const ws = new WebSocket(`ws://127.0.0.1:${this.port}${path}`, { perMessageDeflate: false });
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
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    await exited;
  }
}
