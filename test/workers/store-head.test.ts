/**
 * Where the head (seq, chain) lives: with history on, the newest log row is
 * the head (no second write per frame); meta keeps it with history off and
 * across a trim that empties the log. Read back through a fresh store, as
 * an object restart would.
 */
import { env, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { Env } from '../../src/control/env';
import { GENESIS_CHAIN } from '../../src/protocol/chain';
import { ConversationStore, type AppendRow } from '../../src/conversation/store';

const bindings = env as unknown as Env;
let n = 0;
const freshObject = () => bindings.CONVERSATIONS.get(bindings.CONVERSATIONS.idFromName(`store-head/${Date.now()}-${n++}`));

const row = (seq: number, ts: number): AppendRow => ({
  seq, ts, owner: 'acc_1', stream_id: 'str_1', client_id: null, frame: `{"type":"token","seq":${seq}}`, chain: seq.toString(16).padStart(64, '0'),
});

describe('the conversation head in storage', () => {
  it('is the newest log row when history is on', async () => {
    await runInDurableObject(freshObject(), (_o, state) => {
      const store = new ConversationStore(state.storage.sql);
      expect(store.loadHead()).toEqual({ seq: 0, chain: GENESIS_CHAIN });
      for (let seq = 1; seq <= 3; seq++) store.append(row(seq, Date.now()), true);
      expect(new ConversationStore(state.storage.sql).loadHead()).toEqual({ seq: 3, chain: row(3, 0).chain });
    });
  });

  it('survives a trim that drops every row by age', async () => {
    await runInDurableObject(freshObject(), (_o, state) => {
      const store = new ConversationStore(state.storage.sql);
      const old = Date.now() - 10_000;
      for (let seq = 1; seq <= 3; seq++) store.append(row(seq, old), true);
      store.trim({ seq: 3, chain: row(3, 0).chain }, { max_frames: 100, max_age_s: 1 }, Date.now());
      expect(store.logCount()).toBe(0);
      const reopened = new ConversationStore(state.storage.sql);
      expect(reopened.loadHead()).toEqual({ seq: 3, chain: row(3, 0).chain });
      // Later rows win over the head meta kept at the trim.
      reopened.append(row(4, Date.now()), true);
      expect(new ConversationStore(state.storage.sql).loadHead()).toEqual({ seq: 4, chain: row(4, 0).chain });
    });
  });

  it('lives in meta when history is off, and no row is written', async () => {
    await runInDurableObject(freshObject(), (_o, state) => {
      const store = new ConversationStore(state.storage.sql);
      for (let seq = 1; seq <= 2; seq++) store.append(row(seq, Date.now()), false);
      expect(store.logCount()).toBe(0);
      expect(new ConversationStore(state.storage.sql).loadHead()).toEqual({ seq: 2, chain: row(2, 0).chain });
    });
  });
});
