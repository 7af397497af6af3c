/**
 * The conversation's half of the accounts' presence index (decisions 0145,
 * 0170): which accounts' credentials hold a socket here, and the notes that
 * keep each account's index in step — an enter when an account's first hold
 * is admitted, a leave when its last one goes. The notes travel as RPCs and
 * may arrive out of order, so each carries a sequence number that only grows
 * in this object; an account applies a leave only if no later note of this
 * conversation reached it first. An enter also answers whether the credential
 * generation the socket was admitted with is still current: if a rotation
 * slipped between the admission and the note, the caller closes what it
 * admitted (4002), so a pruned index never hides a live connection.
 */
import { accountStub } from '../control/account-stub';
import type { Env } from '../control/env';
import type { Sql } from './sql';

/** The credential a socket was admitted with. */
export interface Holder {
  account_id: string;
  namespace: string;
  credential_generation: number;
}

export class PresenceLedger {
  constructor(
    private readonly sql: Sql,
    private readonly env: Env,
    /** Keeps the object alive until a note is delivered (`ctx.waitUntil`). */
    private readonly background: (p: Promise<unknown>) => void,
    /** The conversation's address; null once it is deleted (no notes then). */
    private readonly where: () => { ns: string; alias: string } | null,
    /** How many holds the account still has here: sockets and MCP memberships. */
    private readonly holds: (accountId: string) => number,
    /** A rotation came between admission and note: close the account's connections (credential_revoked). */
    private readonly revoked: (accountId: string) => void,
  ) {
    sql.exec('CREATE TABLE IF NOT EXISTS presence_holders (account_id TEXT PRIMARY KEY, ns TEXT NOT NULL, generation INTEGER NOT NULL)');
    sql.exec('CREATE TABLE IF NOT EXISTS presence_clock (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL)');
  }

  /**
   * The next note's number: above every earlier one, and above the clock in ms,
   * so a conversation deleted (its storage with it) and minted again at the same
   * address still numbers its notes after the old one's.
   */
  private next(): number {
    const last = this.sql.exec<{ seq: number }>('SELECT seq FROM presence_clock WHERE id = 1').toArray()[0]?.seq ?? 0;
    const seq = Math.max(last + 1, Date.now());
    this.sql.exec('INSERT OR REPLACE INTO presence_clock (id, seq) VALUES (1, ?)', seq);
    return seq;
  }

  /** A socket of `holder`'s credential was admitted. */
  held(holder: Holder): void {
    const at = this.where();
    if (!at) return;
    const known = this.sql.exec<{ generation: number }>('SELECT generation FROM presence_holders WHERE account_id = ?', holder.account_id).toArray()[0];
    if (known?.generation === holder.credential_generation) return;
    this.sql.exec('INSERT OR REPLACE INTO presence_holders (account_id, ns, generation) VALUES (?, ?, ?)', holder.account_id, holder.namespace, holder.credential_generation);
    this.note(at, async (seq) => {
      const current = await accountStub(this.env, holder.namespace).presenceEntered(at, seq, holder.credential_generation);
      // Only if no socket of a newer credential came since: that one holds, and must stay.
      const now = this.sql.exec<{ generation: number }>('SELECT generation FROM presence_holders WHERE account_id = ?', holder.account_id).toArray()[0];
      if (!current && now?.generation === holder.credential_generation) this.revoked(holder.account_id);
    });
  }

  /** At the object's alarm: an account whose holds ended without a leave of their own (memberships collected or forgotten, links expired) is released now. */
  sweep(): void {
    for (const row of this.sql.exec<{ account_id: string }>('SELECT account_id FROM presence_holders').toArray()) this.released(row.account_id);
  }

  /** The conversation is being deleted: every account's index forgets it. */
  forgetAll(): void {
    const at = this.where();
    const rows = this.sql.exec<{ account_id: string; ns: string }>('SELECT account_id, ns FROM presence_holders').toArray();
    this.sql.exec('DELETE FROM presence_holders');
    if (!at) return;
    for (const row of rows) this.note(at, (seq) => accountStub(this.env, row.ns).presenceLeft(at, seq));
  }

  /** A socket of `accountId` left: if it was the account's last hold here, its index forgets this conversation. */
  released(accountId: string | null): void {
    if (accountId === null || this.holds(accountId) > 0) return;
    const row = this.sql.exec<{ ns: string }>('SELECT ns FROM presence_holders WHERE account_id = ?', accountId).toArray()[0];
    if (!row) return;
    this.sql.exec('DELETE FROM presence_holders WHERE account_id = ?', accountId);
    const at = this.where();
    if (!at) return;
    this.note(at, (seq) => accountStub(this.env, row.ns).presenceLeft(at, seq));
  }

  /** Sends one note, numbered now (in this object's order), in the background; a failure is logged (an account object that cannot be reached). */
  private note(at: { ns: string; alias: string }, send: (seq: number) => Promise<unknown>): void {
    const seq = this.next();
    this.background(send(seq).catch((err) => console.error(`AMS conversation ${at.ns}/${at.alias}: presence note failed`, err)));
  }
}
