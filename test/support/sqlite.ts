/**
 * An in-process SQLite (sql.js, the SQLite C library compiled to WebAssembly)
 * behind the same `Sql` interface the Durable Object's storage meets, so the
 * real stores run in Node unit tests. Synchronous, like `ctx.storage.sql`.
 */
import initSqlJs from 'sql.js';
import type { Sql, SqlCursor, SqlValue } from '../../src/conversation/sql';

let engine: Awaited<ReturnType<typeof initSqlJs>> | undefined;

/** A fresh empty database. */
export async function memorySql(): Promise<Sql> {
  engine ??= await initSqlJs();
  const db = new engine.Database();
  return {
    exec<T extends Record<string, SqlValue>>(query: string, ...bindings: unknown[]): SqlCursor<T> {
      const stmt = db.prepare(query);
      const rows: T[] = [];
      try {
        stmt.bind(bindings as (string | number | null)[]);
        while (stmt.step()) rows.push(stmt.getAsObject() as T);
      } finally {
        stmt.free();
      }
      return {
        toArray: () => rows,
        one: () => {
          if (rows.length !== 1) throw new Error(`Expected exactly one row, got ${rows.length}`);
          return rows[0];
        },
        [Symbol.iterator]: () => rows[Symbol.iterator](),
      };
    },
  };
}
