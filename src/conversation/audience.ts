/**
 * Who receives what. Every live connection is a Member; the audience of an
 * account is the list of members that are not that account's connections
 * (or that opted into self-subscription). Frames of a stream go to the
 * audience of the stream's owner, so the owner's connections are absent by
 * construction — the send loop has no condition in it.
 *
 * Audiences are built once per owner and reused until membership changes;
 * they are grouped by wire format, so each frame is encoded once per format.
 *
 * A member may narrow what it hears to some streams by name (`streams`,
 * decisions/0130). While no member does, nothing changes: one integer test
 * per frame. Once one does, the audiences of tokens and metadata are built
 * per (owner, stream name) instead, and joins and leaves keep the owner's.
 */
import type { LoggedFrame } from '../protocol/frames';
import { narrows, type StreamFilter } from '../protocol/subscription';

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
  /** The stream names it chose to hear (null or absent: every stream it may hear). */
  readonly streams?: StreamFilter;
}

/** Sinks grouped by wire format: `groups[wire]`. */
export type Audience = readonly Sink[][];

export class Membership {
  private readonly members = new Set<Member>();
  private readonly audiences = new Map<string, Audience>();
  /** Per owner and stream name (`owner\nname`), while some member filters. */
  private readonly narrowed = new Map<string, Audience>();
  /** Members with a filter. */
  private filtering = 0;

  add(member: Member): void {
    this.members.add(member);
    if (member.streams) this.filtering++;
    this.changed();
  }

  remove(member: Member): boolean {
    const had = this.members.delete(member);
    if (had) {
      if (member.streams) this.filtering--;
      this.changed();
    }
    return had;
  }

  /** Whether some member filters by stream (a shard reads a row's stream name only then). */
  get filtered(): boolean {
    return this.filtering > 0;
  }

  private changed(): void {
    this.audiences.clear();
    this.narrowed.clear();
  }

  /** Everyone who may hear streams owned by `ownerAccountId`, whatever their filters (joins and leaves). */
  audienceOf(ownerAccountId: string): Audience {
    let audience = this.audiences.get(ownerAccountId);
    if (!audience) {
      audience = this.build((m) => m.accountId !== ownerAccountId || m.selfSubscribe);
      this.audiences.set(ownerAccountId, audience);
    }
    return audience;
  }

  /** Everyone who hears a frame of `type` on stream `streamName` owned by `ownerAccountId`: the owner's audience, narrowed by filters. */
  audienceFor(ownerAccountId: string, type: string, streamName: string): Audience {
    if (this.filtering === 0 || !narrows(type)) return this.audienceOf(ownerAccountId);
    const key = `${ownerAccountId}\n${streamName}`;
    let audience = this.narrowed.get(key);
    if (!audience) {
      audience = this.build((m) => (m.accountId !== ownerAccountId || m.selfSubscribe) && (!m.streams || m.streams.has(streamName)));
      this.narrowed.set(key, audience);
    }
    return audience;
  }

  private build(hears: (m: Member) => boolean): Audience {
    const groups: Sink[][] = Array.from({ length: WIRE_FORMATS }, () => []);
    for (const m of this.members) if (hears(m)) groups[m.wire].push(m.sink);
    return groups;
  }

  /** Whether a member hears streams owned by `ownerAccountId` (the same rule, for replay and polling). */
  static hears(member: Pick<Member, 'accountId' | 'selfSubscribe'>, ownerAccountId: string): boolean {
    return member.accountId !== ownerAccountId || member.selfSubscribe;
  }
}
