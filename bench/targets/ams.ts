/**
 * AMS behind the harness interface: one account per owner, one write-link
 * socket per publishing peer (its own stream), one observer-link socket per
 * listener. Every socket checks the conversation-wide seq rises strictly.
 */
import WebSocket from 'ws';
import { AmsClient, connectUrl, type Account, type Minted } from '../../src/client';
import { inBatches, noop, type Peer, type Room, type RoomSpec, type Target } from './target';

export interface AmsSocketOptions {
  credential?: string;
  streamName?: string;
  since?: number;
  epoch?: string;
  /** Offer permessage-deflate, as `ws` and every browser do by default (true unless false). */
  compression?: boolean;
  /** Ask for `x_receipt` frames. */
  receipts?: boolean;
  /** Hear only these streams' tokens (`X-AMS-Subscribe-Streams`). */
  subscribeStreams?: string[];
}

/** Opens one AMS socket and resolves once `joined` arrived. */
export function openAms(link: string, opts: AmsSocketOptions, onFrame: (text: string) => void, onUnexpectedClose: (code: number, reason: string) => void): Promise<WebSocket> {
  const headers: Record<string, string> = {};
  if (opts.credential) headers.Authorization = `Bearer ${opts.credential}`;
  if (opts.streamName) headers['X-AMS-Stream-Name'] = opts.streamName;
  if (opts.since !== undefined) headers['X-AMS-Since'] = String(opts.since);
  if (opts.epoch !== undefined) headers['X-AMS-Epoch'] = opts.epoch;
  if (opts.receipts) headers['X-AMS-Receipts'] = 'true';
  if (opts.subscribeStreams) headers['X-AMS-Subscribe-Streams'] = opts.subscribeStreams.join(',');
  const ws = new WebSocket(connectUrl(link), { headers, perMessageDeflate: opts.compression !== false });
  return new Promise((resolve, reject) => {
    let joined = false;
    ws.on('message', (data) => {
      const text = data.toString();
      if (!joined) {
        if (!text.startsWith('{"type":"joined"')) return reject(new Error(`expected joined, got ${text.slice(0, 120)}`));
        joined = true;
        resolve(ws);
      }
      onFrame(text);
    });
    ws.on('error', (err) => (joined ? undefined : reject(err)));
    ws.on('close', (code, reason) => {
      if (!joined) reject(new Error(`closed before joined: ${code} ${reason}`));
      else if (!(ws as { benchClosing?: boolean }).benchClosing) onUnexpectedClose(code, reason.toString());
    });
  });
}

export function closeAll(sockets: WebSocket[]): Promise<void> {
  return Promise.all(sockets.map((ws) => new Promise<void>((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) return resolve();
    (ws as { benchClosing?: boolean }).benchClosing = true;
    ws.once('close', () => resolve());
    ws.close(1000, 'bench done');
  }))).then(noop);
}

class AmsPeer implements Peer {
  onMessage: (payload: string, seq: number) => void = noop;
  ws!: WebSocket;
  private lastSeq = -1;
  constructor(private readonly label: string, private readonly fail: (m: string) => void) {}
  publish(payload: string): void {
    this.ws.send(`{"type":"token","data":${JSON.stringify(payload)}}`);
  }
  frame(text: string): void {
    const f = JSON.parse(text) as { type: string; seq?: number; data?: string };
    if (f.type === 'joined') {
      this.lastSeq = f.seq!;
      return;
    }
    if (f.seq !== undefined && f.type !== 'x_receipt') {
      if (f.seq <= this.lastSeq) this.fail(`${this.label}: seq ${f.seq} after ${this.lastSeq} (total order broken)`);
      this.lastSeq = f.seq;
    }
    if (f.type === 'token') this.onMessage(f.data!, f.seq!);
  }
}

/** How the benchmark's clients behave: by default like a default client (compression offered). */
export interface AmsClientOptions {
  compression: boolean;
  /** Where listeners connect; the observer link unless a scenario routes them elsewhere (e.g. an audience shard). */
  listenerLink?: (conv: Minted) => string;
}

/** The extension a socket ended up with, as the server answered the offer ('none' when declined). */
export function negotiatedOf(ws: WebSocket): string {
  return ws.extensions.split(';')[0].trim() || 'none';
}

/** Bytes a socket has read from the network so far (frames as they travelled, compressed or not). */
function bytesRead(ws: WebSocket): number {
  return (ws as unknown as { _socket?: { bytesRead: number } })._socket?.bytesRead ?? 0;
}

export class AmsTarget implements Target {
  onError: (message: string) => void = noop;
  readonly api: AmsClient;
  /** What the server answered to each socket's offer: extension → sockets. */
  readonly negotiated = new Map<string, number>();
  private readonly open = new Set<WebSocket>();
  private closedBytes = 0;
  private readonly accounts: Promise<Account>[] = [];
  private readonly run = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  private rooms = 0;
  private minter: Promise<Account> | undefined;

  constructor(readonly name: string, readonly base: string, private readonly serverPids: () => number[], private readonly history?: { max_frames: number }, readonly client: AmsClientOptions = { compression: true }) {
    this.api = new AmsClient(base);
  }

  pids(): number[] {
    return this.serverPids();
  }

  bytesReceived(): number {
    let sum = this.closedBytes;
    for (const ws of this.open) sum += bytesRead(ws);
    return sum;
  }

  private track(ws: WebSocket): void {
    const ext = negotiatedOf(ws);
    this.negotiated.set(ext, (this.negotiated.get(ext) ?? 0) + 1);
    this.open.add(ws);
    ws.once('close', () => {
      this.closedBytes += bytesRead(ws);
      this.open.delete(ws);
    });
  }

  /** The i-th account of this run, created once even when asked for concurrently. */
  account(i: number): Promise<Account> {
    while (this.accounts.length <= i) this.accounts.push(this.api.createAccount(`bench-${this.run}-${this.accounts.length}`));
    return this.accounts[i];
  }

  /** The account of the i-th peer of an owner that emits beyond one account's budget (`RoomSpec.beyondOneAccount`). */
  private peerAccount(i: number): Promise<Account> {
    while (this.peerAccounts.length <= i) this.peerAccounts.push(this.api.createAccount(`bench-${this.run}-peer${this.peerAccounts.length}`));
    return this.peerAccounts[i];
  }

  private readonly peerAccounts: Promise<Account>[] = [];

  /**
   * Conversations are minted by an account of their own: minting registers a
   * stream for the minter, and an account registers at most ten streams in a
   * conversation, which the ten streams of a fan-out owner need.
   */
  async mint(body: Record<string, unknown> = {}): Promise<Minted> {
    this.minter ??= this.api.createAccount(`bench-${this.run}-minter`);
    return this.api.createConversation(await this.minter, { ...(this.history ? { history: this.history } : {}), ...body } as never);
  }

  async room(spec: RoomSpec): Promise<Room> {
    const conv = await this.mint();
    const roomNo = this.rooms++;
    const plan: { owner: number; index: number }[] = [];
    spec.owners.forEach((count, owner) => {
      for (let index = 0; index < count; index++) plan.push({ owner, index });
    });
    const owners: AmsPeer[][] = spec.owners.map(() => []);
    const listeners: AmsPeer[] = [];
    const sockets: WebSocket[] = [];
    const unexpected = (label: string) => (code: number, reason: string) => this.onError(`${this.name} ${label}: closed ${code} ${reason}`);
    await inBatches(plan, 32, async ({ owner, index }) => {
      // Peers that emit beyond one account's budget speak through an account each, and hear only their own stream,
      // which their own account never hears: as deaf to each other as one account's streams are.
      const spread = spec.beyondOneAccount === true;
      const acct = await (spread ? this.peerAccount(index) : this.account(owner));
      const label = `room ${roomNo} owner ${owner} peer ${index}`;
      const peer = new AmsPeer(label, this.onError);
      const streamName = `o${owner}-p${index}`;
      peer.ws = await openAms(conv.magic_link, { credential: acct.credential, streamName, compression: this.client.compression, ...(spread ? { subscribeStreams: [streamName] } : {}) }, (t) => peer.frame(t), unexpected(label));
      this.track(peer.ws);
      owners[owner][index] = peer;
      sockets.push(peer.ws);
    });
    const refused = new Map<number, number>();
    const addListeners = async (n: number) => {
      const first = listeners.length;
      const opened = await inBatches(Array.from({ length: n }, (_, i) => first + i), 32, async (i) => {
        const label = `room ${roomNo} listener ${i}`;
        const peer = new AmsPeer(label, this.onError);
        try {
          peer.ws = await openAms(this.client.listenerLink?.(conv) ?? conv.observer_link, { compression: this.client.compression }, (t) => peer.frame(t), unexpected(label));
        } catch (err) {
          const code = Number(/closed before joined: (\d+)/.exec(String(err))?.[1]);
          if (!spec.refusable || !code) throw err;
          refused.set(code, (refused.get(code) ?? 0) + 1);
          return undefined;
        }
        this.track(peer.ws);
        sockets.push(peer.ws);
        return peer;
      });
      for (const p of opened) if (p) listeners.push(p);
    };
    await addListeners(spec.listeners);
    return { owners, listeners, refused, addListeners, close: () => closeAll(sockets) };
  }

  async stop(): Promise<void> {}
}
