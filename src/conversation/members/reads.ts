/**
 * `ams_recv` for one attached membership, in its two formats: `frames` (the
 * wire frames it hears, as they are) and `messages` (the same frames cut into
 * utterances and events: MessageReader). Both wait the same way
 * (`LongPolls.until`) and propose where the next call continues — the
 * cursor, and for messages the carry. Nothing moves until the session
 * commits that proposal (`commit`), once its answer is safe on the way to
 * the client (decisions/0120): a read whose client went away moves nothing.
 */
import { LIMITS } from '../../protocol/limits';
import type { UtteranceCarry } from '../../protocol/utterances';
import type { Conversation } from '../conversation';
import { readHeard, type LongPolls } from './long-poll';
import type { McpConnection } from './connection';
import type { Outcome, Proposed, ReadPosition, ReadProposal, Received, ReceivedMessages, RecvArgs, RecvMessagesArgs } from './rpc';
import type { MemberRow, MemberRows } from './rows';
import { MessageReader } from './messages';

type Gone = () => Outcome<never> | undefined;
type Step<T> = { value: T } | { wakeAt?: number };

export class MemberReads {
  constructor(private readonly conv: Conversation, private readonly rows: MemberRows, private readonly polls: LongPolls,
    private readonly clock: () => number) {}

  /**
   * Frames after `since` (default: the stored cursor) that `conn` hears, at
   * once if there are any, else after the next audible append or `wait_ms`.
   * `truncated` names seqs the log no longer holds. With `advance` the answer
   * proposes the stored cursor's move to its `next_since`.
   */
  async frames(conn: McpConnection, a: RecvArgs, gone: Gone): Promise<Outcome<Received & { proposal?: ReadProposal }>> {
    const at = positionOf(conn.row);
    let from = a.since ?? conn.row.cursor;
    const out = await this.polls.until(conn, this.deadline(a.wait_ms), this.clock, (_now, final): Step<Received> => {
      const got = readHeard(this.conv, conn, from, clampMax(a.max));
      if (got.frames.length > 0 || got.truncated || got.next_since < got.head_seq || final) return { value: got };
      from = got.next_since;
      return {};
    }, gone);
    this.rows.touch(conn.row, this.clock());
    if (!out.ok || !a.advance) return out;
    return { ok: true, value: { ...out.value, proposal: { from: at, to: { cursor: out.value.next_since, carry: null } } } };
  }

  /**
   * The same frames as utterances and events, returned once there is a
   * finished utterance or an event; when `wait_ms` runs out, open utterances
   * as they stand (`complete: false`). The stored cursor and carry continue
   * it exactly; a `since` other than the stored cursor reads afresh from there.
   * The answer proposes the cursor and carry after it.
   */
  async messages(conn: McpConnection, a: RecvMessagesArgs, gone: Gone): Promise<Outcome<Proposed<ReceivedMessages>>> {
    const at = positionOf(conn.row);
    const since = a.since ?? conn.row.cursor;
    const carry = since === conn.row.cursor && conn.row.carry !== null ? JSON.parse(conn.row.carry) as UtteranceCarry : {};
    const reader = new MessageReader(this.conv, conn, since, carry, clampMax(a.max));
    const out = await this.polls.until(conn, this.deadline(a.wait_ms), this.clock, (now, final) => {
      const s = reader.step(now, final);
      return 'done' in s ? { value: s.done } : s;
    }, gone);
    this.rows.touch(conn.row, this.clock());
    if (!out.ok) return out;
    const { carry: told, ...got } = out.value;
    const to = { cursor: got.next_since, carry: Object.keys(told).length > 0 ? JSON.stringify(told) : null };
    return { ok: true, value: { ...got, proposal: { from: at, to } } };
  }

  /**
   * Moves `conn`'s stored position as `p` proposes — compare and set: only
   * from where that read started (another read committed since: it stays),
   * and a second commit of the same answer changes nothing.
   */
  commit(row: MemberRow, p: ReadProposal): boolean {
    const now = positionOf(row);
    if (same(now, p.to)) return true;
    if (!same(now, p.from)) return false;
    row.cursor = p.to.cursor;
    row.carry = p.to.carry;
    row.epoch = this.conv.record!.epoch;
    this.rows.saveCursor(row);
    return true;
  }

  private deadline(waitMs: number): number {
    return this.clock() + Math.min(Math.max(0, waitMs), LIMITS.mcpWaitMsMax);
  }

}

const positionOf = (row: MemberRow): ReadPosition => ({ cursor: row.cursor, carry: row.carry });
const same = (a: ReadPosition, b: ReadPosition): boolean => a.cursor === b.cursor && a.carry === b.carry;

const clampMax = (max: number): number => Math.min(Math.max(1, max), LIMITS.mcpRecvMax);
