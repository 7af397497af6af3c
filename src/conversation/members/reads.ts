/**
 * `ams_recv` for one attached membership, in its two formats: `frames` (the
 * wire frames it hears, as they are) and `messages` (the same frames cut into
 * utterances and events: MessageReader). Both wait the same way
 * (`LongPolls.until`) and store where the next call continues in the
 * membership's row — the cursor, and for messages the carry.
 */
import { LIMITS } from '../../protocol/limits';
import type { UtteranceCarry } from '../../protocol/utterances';
import type { Conversation } from '../conversation';
import { readHeard, type LongPolls } from './long-poll';
import type { McpConnection } from './connection';
import type { Outcome, Received, ReceivedMessages, RecvArgs, RecvMessagesArgs } from './rpc';
import type { MemberRows } from './rows';
import { MessageReader } from './messages';

type Gone = () => Outcome<never> | undefined;
type Step<T> = { value: T } | { wakeAt?: number };

export class MemberReads {
  constructor(private readonly conv: Conversation, private readonly rows: MemberRows, private readonly polls: LongPolls,
    private readonly clock: () => number) {}

  /**
   * Frames after `since` (default: the stored cursor) that `conn` hears, at
   * once if there are any, else after the next audible append or `wait_ms`.
   * `truncated` names seqs the log no longer holds. Only `advance` moves the cursor.
   */
  async frames(conn: McpConnection, a: RecvArgs, gone: Gone): Promise<Outcome<Received>> {
    let from = a.since ?? conn.row.cursor;
    const out = await this.polls.until(conn, this.deadline(a.wait_ms), this.clock, (_now, final): Step<Received> => {
      const got = readHeard(this.conv, conn, from, clampMax(a.max));
      if (got.frames.length > 0 || got.truncated || got.next_since < got.head_seq || final) return { value: got };
      from = got.next_since;
      return {};
    }, gone);
    if (out.ok) this.done(conn, a.advance ? { cursor: out.value.next_since, carry: null } : undefined);
    return out;
  }

  /**
   * The same frames as utterances and events, returned once there is a
   * finished utterance or an event; when `wait_ms` runs out, open utterances
   * as they stand (`complete: false`). The stored cursor and carry continue
   * it exactly; a `since` other than the stored cursor reads afresh from there.
   */
  async messages(conn: McpConnection, a: RecvMessagesArgs, gone: Gone): Promise<Outcome<ReceivedMessages>> {
    const since = a.since ?? conn.row.cursor;
    const carry = since === conn.row.cursor && conn.row.carry !== null ? JSON.parse(conn.row.carry) as UtteranceCarry : {};
    const reader = new MessageReader(this.conv, conn, since, carry, clampMax(a.max));
    const out = await this.polls.until(conn, this.deadline(a.wait_ms), this.clock, (now, final) => {
      const s = reader.step(now, final);
      return 'done' in s ? { value: s.done } : s;
    }, gone);
    if (!out.ok) return out;
    const { carry: told, ...got } = out.value;
    this.done(conn, { cursor: got.next_since, carry: Object.keys(told).length > 0 ? JSON.stringify(told) : null });
    return { ok: true, value: got };
  }

  private deadline(waitMs: number): number {
    return this.clock() + Math.min(Math.max(0, waitMs), LIMITS.mcpWaitMsMax);
  }

  /** A read returned: store where the next ams_recv continues (`to`), and that the member was seen. */
  private done(conn: McpConnection, to: { cursor: number; carry: string | null } | undefined): void {
    if (to) {
      conn.row.cursor = to.cursor;
      conn.row.carry = to.carry;
      conn.row.epoch = this.conv.record!.epoch;
      this.rows.saveCursor(conn.row);
    }
    this.rows.touch(conn.row, this.clock());
  }
}

const clampMax = (max: number): number => Math.min(Math.max(1, max), LIMITS.mcpRecvMax);
