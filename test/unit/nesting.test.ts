/**
 * Issue 14, item 1 at the unit level: the depth limit where metadata and
 * id inputs are validated, a canonicaliser no nesting can break, and stream
 * state that changes only once its frame is logged.
 */
import { describe, expect, it } from 'vitest';
import canonicalize from 'canonicalize';
import { canonicalFrame, jcs } from '../../src/protocol/chain';
import { derivedConversationId } from '../../src/control/ids';
import { Conversation } from '../../src/conversation/conversation';
import { ConversationStore } from '../../src/conversation/store';
import { LIMITS } from '../../src/protocol/limits';
import { decodeMetadataHeader, isAcceptableMetadata, withinDepth } from '../../src/protocol/validate';
import type { LoggedFrame } from '../../src/protocol/frames';
import { memorySql } from '../support/sqlite';
import { brackets, nested } from '../support/shapes';

const b64 = (v: unknown) => btoa(JSON.stringify(v));

describe('nesting depth', () => {
  it('counts a scalar as 0 and each object or array as one level', () => {
    expect(withinDepth('x', 0)).toBe(true);
    expect(withinDepth({}, 0)).toBe(false);
    expect(withinDepth({ a: [1, { b: 2 }] }, 3)).toBe(true);
    expect(withinDepth({ a: [1, { b: 2 }] }, 2)).toBe(false);
  });

  it('metadata at the limit passes; one level more, or the 8 KiB object 4,000 deep of the report, is refused everywhere', () => {
    const report = { a: brackets(4_000) };
    expect(JSON.stringify(report).length).toBeLessThan(LIMITS.metadataBytes);
    expect(isAcceptableMetadata(nested(LIMITS.jsonDepth))).toBe(true);
    expect(isAcceptableMetadata(nested(LIMITS.jsonDepth + 1))).toBe(false);
    expect(isAcceptableMetadata(report)).toBe(false);
    expect(decodeMetadataHeader(b64(report))).toBeUndefined();
    expect(decodeMetadataHeader(b64(nested(LIMITS.jsonDepth)))).toEqual(nested(LIMITS.jsonDepth));
  });

  it('a jcs-sha256 id_input nested too deep derives no id', () => {
    expect(derivedConversationId(nested(LIMITS.jsonDepth))).toMatch(/^conv_[0-9a-f]{64}$/);
    expect(derivedConversationId(nested(LIMITS.jsonDepth + 1))).toBeUndefined();
    expect(derivedConversationId(nested(40_000))).toBeUndefined();
  });
});

describe('canonicalisation is depth-safe', () => {
  it('writes 50,000 levels without throwing, the same text as RFC 8785', () => {
    let v: unknown = 1;
    for (let i = 0; i < 50_000; i++) v = i % 2 ? [v, null] : { b: v, a: 'x' };
    const text = jcs(v);
    expect(text.length).toBeGreaterThan(250_000);
    expect(text.startsWith('[{"a":"x","b":[{"a":"x"')).toBe(true);
    const small = { z: [1, { y: null, x: [[], {}] }, 'é'], a: { c: undefined, b: true } };
    expect(jcs(small)).toBe(canonicalize(small));
  });

  it('leaves a chain field out of the frame only, never out of nested metadata', () => {
    const f = { type: 'stream_metadata', seq: 1, chain: 'ff', metadata: { chain: 1 } } as unknown as LoggedFrame;
    expect(canonicalFrame(f)).toBe('{"metadata":{"chain":1},"seq":1,"type":"stream_metadata"}');
  });
});

describe('stream state changes only after its frame is logged', () => {
  it('a failed log write leaves the metadata as it was, in memory and in storage', async () => {
    const sql = await memorySql();
    let failAppends = false;
    const store = new ConversationStore(sql);
    const append = store.append.bind(store);
    store.append = (...args) => {
      if (failAppends) throw new Error('disk full');
      append(...args);
    };
    const conv = new Conversation(store, { streamId: () => 'str_2', streamName: () => 'n2' });
    conv.create({
      conversation_id: 'conv_1', namespace: 'ns', alias: 'room', id_kind: 'ulid', metadata: {}, created_at: '2026-01-01T00:00:00.000Z',
      owner_account_id: 'acc_a', history: { max_frames: 100, max_age_s: 86_400 }, epoch: 'ep', generation: 1,
    }, { stream_id: 'str_1', stream_name: 'one', owner_account_id: 'acc_a', metadata: { v: 1 }, created_at: '2026-01-01T00:00:00.000Z', connected_once: true });
    const stream = conv.streams.get('str_1')!;
    failAppends = true;
    expect(() => conv.setMetadata(stream, { v: 2 })).toThrow('disk full');
    expect(conv.streams.get('str_1')!.metadata).toEqual({ v: 1 });
    expect(new ConversationStore(sql).loadStreams().find((s) => s.stream_id === 'str_1')!.metadata).toEqual({ v: 1 });
    failAppends = false;
    expect(conv.setMetadata(stream, { v: 3 })).toBe(1);
    expect(new ConversationStore(sql).loadStreams().find((s) => s.stream_id === 'str_1')!.metadata).toEqual({ v: 3 });
  });
});
