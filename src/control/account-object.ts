/**
 * One Durable Object per namespace: the account that owns it (1:1), its
 * peppered credential hash and the credential's generation, the derived
 * conversation ids minted under it, and two indexes (decision 0145): the
 * conversations minted in the namespace (`minted`, what the account lists and
 * deletes) and the conversations, in any namespace, where its credential
 * admitted a connection or membership (`presence`, what a rotation reaches).
 * Single-threaded storage makes "create if absent" atomic — no get-then-put race.
 */
import { DurableObject } from 'cloudflare:workers';
import type { Env } from './env';
import { constantTimeEqual } from './encoding';

export interface AccountRecord {
  account_id: string;
  namespace: string;
  created_at: string;
}

/** A verified account: its record and the generation of the credential that was presented. */
export interface VerifiedAccount extends AccountRecord {
  credential_generation: number;
}

/** A conversation address, `{ns}/{alias}`. */
export interface Place {
  ns: string;
  alias: string;
}

/** A row of the `minted` index. */
export type MintedRow = {
  alias: string;
  conversation_id: string;
  created_at: string;
};

/** What a rotation or deletion hands back so the caller can end what the old credential admitted. */
export interface Revoked {
  account_id: string;
  credential_generation: number;
  presence: Place[];
}

type AccountRow = {
  account_id: string;
  namespace: string;
  created_at: string;
  credential_hash: string;
  credential_generation: number;
  deleted_at: string | null;
};

export class AccountObject extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(`CREATE TABLE IF NOT EXISTS account (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      account_id TEXT NOT NULL, namespace TEXT NOT NULL, credential_hash TEXT NOT NULL, created_at TEXT NOT NULL)`);
    // Accounts created before rotation existed hold their first credential; none was deleted.
    const columns = this.sql.exec<{ name: string }>('PRAGMA table_info(account)').toArray().map((c) => c.name);
    if (!columns.includes('credential_generation')) this.sql.exec('ALTER TABLE account ADD COLUMN credential_generation INTEGER NOT NULL DEFAULT 1');
    if (!columns.includes('deleted_at')) this.sql.exec('ALTER TABLE account ADD COLUMN deleted_at TEXT');
    this.sql.exec(`CREATE TABLE IF NOT EXISTS derived_ids (conversation_id TEXT PRIMARY KEY, alias TEXT NOT NULL)`);
    this.sql.exec(`CREATE TABLE IF NOT EXISTS minted (alias TEXT PRIMARY KEY, conversation_id TEXT NOT NULL, created_at TEXT NOT NULL)`);
    this.sql.exec(`CREATE TABLE IF NOT EXISTS presence (ns TEXT NOT NULL, alias TEXT NOT NULL, PRIMARY KEY (ns, alias))`);
    // The conversation's own ordering of its enter and leave notes (decision 0170); 0 for a row only a credential check wrote.
    if (!this.sql.exec<{ name: string }>('PRAGMA table_info(presence)').toArray().some((c) => c.name === 'seq')) {
      this.sql.exec('ALTER TABLE presence ADD COLUMN seq INTEGER NOT NULL DEFAULT 0');
    }
  }

  private row(): AccountRow | undefined {
    return this.sql.exec<AccountRow>(
      'SELECT account_id, namespace, created_at, credential_hash, credential_generation, deleted_at FROM account WHERE id = 1').toArray()[0];
  }

  /** Creates the namespace's account; false when it already has one, or had one that was deleted (the namespace stays taken). */
  create(record: AccountRecord, credentialHash: string): boolean {
    if (this.row()) return false;
    this.sql.exec('INSERT INTO account (id, account_id, namespace, credential_hash, created_at) VALUES (1, ?, ?, ?, ?)',
      record.account_id, record.namespace, credentialHash, record.created_at);
    return true;
  }

  /** The live account whose credential hashes to `hash`, compared in constant time. */
  private check(hash: string): AccountRow | undefined {
    const row = this.row();
    const enc = new TextEncoder();
    // Compare against a dummy when there is no account, so timing does not tell the two apart.
    const stored = enc.encode(row?.credential_hash || '0'.repeat(64));
    const ok = constantTimeEqual(stored, enc.encode(hash)) && row !== undefined && row.deleted_at === null;
    return ok ? row : undefined;
  }

  /**
   * The account whose credential hashes to `credentialHash`. With `at`, the
   * credential is being used to enter that conversation: it joins the presence
   * index in the same call, so a later rotation reaches it.
   */
  verify(credentialHash: string, at?: Place): VerifiedAccount | null {
    const row = this.check(credentialHash);
    if (!row) return null;
    if (at) this.notePresence(at);
    return { account_id: row.account_id, namespace: row.namespace, created_at: row.created_at, credential_generation: row.credential_generation };
  }

  /** The current credential's generation; null when the account is gone (a resume key checks it, decision 0146). */
  credentialGeneration(): number | null {
    const row = this.row();
    return row && row.deleted_at === null ? row.credential_generation : null;
  }

  /**
   * Replaces the credential hashing to `oldHash` with `newHash`: the old one is
   * refused from this call on. Returns the conversations it had entered (the
   * index then starts empty: everything there is about to be closed); null
   * when `oldHash` is not the current credential.
   */
  rotate(oldHash: string, newHash: string): Revoked | null {
    const row = this.check(oldHash);
    if (!row) return null;
    const generation = row.credential_generation + 1;
    this.sql.exec('UPDATE account SET credential_hash = ?, credential_generation = ? WHERE id = 1', newHash, generation);
    return { account_id: row.account_id, credential_generation: generation, presence: this.takePresence() };
  }

  /**
   * Deletes the account: no credential matches it again, the namespace stays
   * taken (a tombstone, decision 0147), and the caller gets what to close:
   * every conversation minted here and every one its credential entered.
   * 'gone' when it was deleted already; null for a credential that is not its own.
   */
  remove(credentialHash: string): (Revoked & { minted: MintedRow[] }) | 'gone' | null {
    if (this.row()?.deleted_at) return 'gone';
    const row = this.check(credentialHash);
    if (!row) return null;
    const minted = this.sql.exec<MintedRow>('SELECT alias, conversation_id, created_at FROM minted ORDER BY alias').toArray();
    this.sql.exec("UPDATE account SET credential_hash = '', deleted_at = ? WHERE id = 1", new Date().toISOString());
    this.sql.exec('DELETE FROM minted');
    this.sql.exec('DELETE FROM derived_ids');
    return { account_id: row.account_id, credential_generation: row.credential_generation, presence: this.takePresence(), minted };
  }

  private takePresence(): Place[] {
    const places = this.presencePlaces();
    this.sql.exec('DELETE FROM presence');
    return places;
  }

  /** The credential entered a conversation (a socket, an MCP membership). */
  notePresence(at: Place): void {
    this.sql.exec('INSERT OR IGNORE INTO presence (ns, alias) VALUES (?, ?)', at.ns, at.alias);
  }

  /**
   * The conversation `at` says the credential holds something there again
   * (its note `seq`, decision 0170): the row is (re)written, and the answer
   * says whether `generation` is still the credential's — false once rotated
   * or deleted, and the conversation then closes what it admitted with it.
   */
  presenceEntered(at: Place, seq: number, generation: number): boolean {
    if (this.credentialGeneration() !== generation) return false;
    this.sql.exec('INSERT INTO presence (ns, alias, seq) VALUES (?, ?, ?) ON CONFLICT (ns, alias) DO UPDATE SET seq = MAX(seq, excluded.seq)', at.ns, at.alias, seq);
    return true;
  }

  /**
   * The conversation `at` says the credential's last hold there went (its note
   * `seq`): the row goes unless a later note of that conversation (an enter
   * with a higher seq) arrived first. A row a credential check wrote (seq 0)
   * goes too: if that check's connection is still on its way, the conversation
   * sends an enter when it admits it.
   */
  presenceLeft(at: Place, seq: number): void {
    this.sql.exec('DELETE FROM presence WHERE ns = ? AND alias = ? AND seq < ?', at.ns, at.alias, seq);
  }

  /** The conversations in the presence index (operators and tests read it; a rotation takes it). */
  presencePlaces(): Place[] {
    return this.sql.exec<{ ns: string; alias: string }>('SELECT ns, alias FROM presence ORDER BY ns, alias').toArray().map((p) => ({ ns: p.ns, alias: p.alias }));
  }

  /** A conversation was minted in this namespace. */
  noteMinted(row: MintedRow): void {
    this.sql.exec('INSERT OR REPLACE INTO minted (alias, conversation_id, created_at) VALUES (?, ?, ?)', row.alias, row.conversation_id, row.created_at);
  }

  /** A conversation of this namespace was deleted. */
  forgetMinted(alias: string): void {
    this.sql.exec('DELETE FROM minted WHERE alias = ?', alias);
  }

  /** Up to `limit` minted conversations in alias order, after `after`; null when the account is gone. */
  mintedPage(after: string | undefined, limit: number): MintedRow[] | null {
    if (this.credentialGeneration() === null) return null;
    return this.sql.exec<MintedRow>('SELECT alias, conversation_id, created_at FROM minted WHERE alias > ? ORDER BY alias LIMIT ?', after ?? '', limit).toArray();
  }

  /** Reserves a derived (jcs-sha256) conversation id in this namespace; false if already minted. */
  claimDerivedId(conversationId: string, alias: string): boolean {
    if (this.sql.exec('SELECT 1 FROM derived_ids WHERE conversation_id = ?', conversationId).toArray().length > 0) return false;
    this.sql.exec('INSERT INTO derived_ids (conversation_id, alias) VALUES (?, ?)', conversationId, alias);
    return true;
  }

  releaseDerivedId(conversationId: string): void {
    this.sql.exec('DELETE FROM derived_ids WHERE conversation_id = ?', conversationId);
  }
}
