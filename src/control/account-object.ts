/**
 * One Durable Object per namespace: the account that owns it (1:1), its
 * peppered credential hash, and the derived conversation ids minted under it.
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

export class AccountObject extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(`CREATE TABLE IF NOT EXISTS account (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      account_id TEXT NOT NULL, namespace TEXT NOT NULL, credential_hash TEXT NOT NULL, created_at TEXT NOT NULL)`);
    this.sql.exec(`CREATE TABLE IF NOT EXISTS derived_ids (conversation_id TEXT PRIMARY KEY, alias TEXT NOT NULL)`);
  }

  /** Creates the namespace's account; false when it already has one. */
  create(record: AccountRecord, credentialHash: string): boolean {
    const existing = this.sql.exec('SELECT 1 FROM account WHERE id = 1').toArray();
    if (existing.length > 0) return false;
    this.sql.exec('INSERT INTO account (id, account_id, namespace, credential_hash, created_at) VALUES (1, ?, ?, ?, ?)',
      record.account_id, record.namespace, credentialHash, record.created_at);
    return true;
  }

  /** The account whose credential hashes to `credentialHash`, compared in constant time. */
  verify(credentialHash: string): AccountRecord | null {
    const row = this.sql.exec<{ account_id: string; namespace: string; created_at: string; credential_hash: string }>(
      'SELECT account_id, namespace, created_at, credential_hash FROM account WHERE id = 1').toArray()[0];
    const enc = new TextEncoder();
    // Compare against a dummy when there is no account, so timing does not tell the two apart.
    const stored = enc.encode(row?.credential_hash ?? '0'.repeat(64));
    const ok = constantTimeEqual(stored, enc.encode(credentialHash)) && row !== undefined;
    return ok ? { account_id: row.account_id, namespace: row.namespace, created_at: row.created_at } : null;
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
