/**
 * Doorbells: how a session holding a GET stream learns that its membership
 * heard frames. After a batch of frames the conversation rings each listening
 * membership's session once — a short RPC with the new head — and the session
 * pulls what it has not told yet. Nothing is held open between frames, so the
 * object hibernates with listeners attached.
 */
import type { Doorbell } from './rpc';

/** Rings a session's doorbell; resolves whether it still listens for that membership. */
export type Ring = (listener: string, bell: Doorbell) => Promise<boolean>;

export class Doorbells {
  /** Doorbells to ring after the current batch, one per membership and listener. */
  private readonly pending = new Map<string, Doorbell & { listener: string }>();
  private scheduled = false;
  /** Doorbells being rung now: a bell for one of them waits until that ring is answered. */
  private readonly ringing = new Set<string>();
  private quiet: Array<() => void> = [];

  /** `deaf(member, tag)`: that listener no longer listens (it said so, or its ring failed). */
  constructor(private readonly ring: Ring, private readonly deaf: (memberId: string, tag: string) => void) {}

  /** Asks for one ring of `listener` after the current batch; `ended` sticks until it is rung. */
  request(listener: string, memberId: string, tag: string, head: number, ended: boolean): void {
    const key = `${memberId} ${tag}`;
    const prev = this.pending.get(key);
    this.pending.set(key, { listener, member_id: memberId, tag, head: Math.max(head, prev?.head ?? 0), ...(ended || prev?.ended ? { ended: true } : {}) });
    this.schedule();
  }

  /** Drops a pending ring for a listener that is gone. */
  cancel(memberId: string, tag: string): void {
    this.pending.delete(`${memberId} ${tag}`);
  }

  /** Resolves once no doorbell waits to be rung or is being rung. */
  rung(): Promise<void> {
    if (this.pending.size + this.ringing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.quiet.push(resolve));
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setTimeout(() => this.ringAll(), 0);
  }

  /** Rings each pending doorbell once; one in flight per membership, the frames that came meanwhile ring once more after it. */
  private ringAll(): void {
    this.scheduled = false;
    for (const [key, bell] of [...this.pending]) {
      if (this.ringing.has(key)) continue;
      this.pending.delete(key);
      this.ringing.add(key);
      const { listener, ...doorbell } = bell;
      new Promise<boolean>((resolve) => resolve(this.ring(listener, doorbell)))
        .then((held) => {
          if (!held) this.deaf(bell.member_id, bell.tag);
        }, (err: unknown) => {
          console.error(`AMS MCP: the doorbell of member ${bell.member_id} failed; it is no longer rung`, err);
          this.deaf(bell.member_id, bell.tag);
        })
        .finally(() => {
          this.ringing.delete(key);
          if (this.pending.has(key)) this.schedule();
          this.settled();
        });
    }
    this.settled();
  }

  private settled(): void {
    if (this.pending.size + this.ringing.size === 0) for (const q of this.quiet.splice(0)) q();
  }
}
