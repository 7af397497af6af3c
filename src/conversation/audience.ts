/**
 * Who receives what. Every live connection is a Member; the audience of an
 * account is the list of members that are not that account's connections
 * (or that opted into self-subscription). Frames of a stream go to the
 * audience of the stream's owner, so the owner's connections are absent by
 * construction — the send loop has no condition in it.
 *
 * Audiences are built once per owner and reused until membership changes;
 * they are grouped by wire format, so each frame is encoded once per format.
 */
import type { LoggedFrame } from '../protocol/frames';

export interface Sink {
  /** `frame`: the logged frame `text` encodes, when it is one (see Connection). */
  send(text: string, frame?: LoggedFrame): void;
}

/** How a member wants frames written: WebSocket JSON or SSE, with or without the hash chain. */
export const enum Wire {
  Json = 0,
  JsonChain = 1,
  Sse = 2,
  SseChain = 3,
}
export const WIRE_FORMATS = 4;

export interface Member {
  readonly sink: Sink;
  /** null for observers (read links, SSE tails): they own nothing and hear everything. */
  readonly accountId: string | null;
  readonly selfSubscribe: boolean;
  readonly wire: Wire;
}

/** Sinks grouped by wire format: `groups[wire]`. */
export type Audience = readonly Sink[][];

export class Membership {
  private readonly members = new Set<Member>();
  private readonly audiences = new Map<string, Audience>();

  add(member: Member): void {
    this.members.add(member);
    this.audiences.clear();
  }

  remove(member: Member): boolean {
    const had = this.members.delete(member);
    if (had) this.audiences.clear();
    return had;
  }

  /** Everyone who may hear streams owned by `ownerAccountId`. */
  audienceOf(ownerAccountId: string): Audience {
    let audience = this.audiences.get(ownerAccountId);
    if (!audience) {
      const groups: Sink[][] = Array.from({ length: WIRE_FORMATS }, () => []);
      for (const m of this.members) {
        if (m.accountId !== ownerAccountId || m.selfSubscribe) groups[m.wire].push(m.sink);
      }
      audience = groups;
      this.audiences.set(ownerAccountId, audience);
    }
    return audience;
  }

  /** Whether a member hears streams owned by `ownerAccountId` (the same rule, for replay and polling). */
  static hears(member: Pick<Member, 'accountId' | 'selfSubscribe'>, ownerAccountId: string): boolean {
    return member.accountId !== ownerAccountId || member.selfSubscribe;
  }
}
