/**
 * The SQL a conversation's storage runs on. In production it is the Durable
 * Object's SQLite (`ctx.storage.sql`, which satisfies this interface as it
 * is); Node unit tests hand the same stores an in-process SQLite. Calls are
 * synchronous, as they are in a Durable Object.
 */
export type SqlValue = ArrayBuffer | string | number | null;

export interface SqlCursor<T> extends Iterable<T> {
  toArray(): T[];
  /** The single row; throws unless there is exactly one. */
  one(): T;
}

export interface Sql {
  exec<T extends Record<string, SqlValue>>(query: string, ...bindings: any[]): SqlCursor<T>;
}
