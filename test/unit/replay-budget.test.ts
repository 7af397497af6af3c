/** The byte budget of a replay (decisions/0101): exact stopping point, at least one frame, UTF-8 counted right. */
import { describe, expect, it } from 'vitest';
import { Wire, type Member } from '../../src/conversation/audience';
import type { Connection } from '../../src/conversation/connection';
import type { LogRow } from '../../src/conversation/store';
import { replayWithin, utf8Length } from '../../src/conversation/wire';

class Sink implements Connection {
  readonly member: Member = { sink: this, accountId: 'acc_me', selfSubscribe: false, wire: Wire.Json };
  readonly accountId = 'acc_me';
  readonly streamId = null;
  readonly scope = 'read' as const;
  readonly generation = 1;
  readonly receipts = false;
  readonly sent: string[] = [];
  send(text: string) { this.sent.push(text); }
  close() {}
}
const row = (seq: number, owner: string, data: string): LogRow => ({ seq, ts: 0, owner, frame: JSON.stringify({ type: 'token', data, seq }), chain: 'c' });

describe('replayWithin', () => {
  it('sends one frame even when it alone is over the budget, then reports the rest unsent', () => {
    const s = new Sink();
    expect(replayWithin(s, [row(1, 'acc_x', 'a'.repeat(100)), row(2, 'acc_x', 'b')], 10)).toBe(false);
    expect(s.sent.map((t) => JSON.parse(t).seq)).toEqual([1]);
  });

  it('stops only before a frame the connection hears: frames it never hears do not pause it', () => {
    const s = new Sink();
    expect(replayWithin(s, [row(1, 'acc_x', 'a'.repeat(100)), row(2, 'acc_me', 'own'), row(3, 'acc_me', 'own')], 10)).toBe(true);
    expect(s.sent).toHaveLength(1);
  });

  it('sends everything within the budget', () => {
    const s = new Sink();
    expect(replayWithin(s, [1, 2, 3].map((n) => row(n, 'acc_x', 'x')), 1_000)).toBe(true);
    expect(s.sent).toHaveLength(3);
  });
});

describe('utf8Length', () => {
  it('matches TextEncoder for ASCII, 2- and 3-byte characters, pairs and lone surrogates', () => {
    for (const t of ['', 'abc', 'é', '€', '😀', 'a\ud800b', '\udc00', 'x😀é€\u0001']) {
      expect(utf8Length(t), JSON.stringify(t)).toBe(new TextEncoder().encode(t).length);
    }
  });
});
