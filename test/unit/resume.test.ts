import { describe, expect, it } from 'vitest';
import { planResume } from '../../src/conversation/resume';

const w = { epoch: 'e1', head: 100, firstRetained: 41 };

describe('planResume', () => {
  it('without a cursor, goes live with no replay', () => {
    expect(planResume({}, w)).toEqual({ kind: 'live' });
  });
  it('replays everything after a cursor inside the window', () => {
    expect(planResume({ since: 60, epoch: 'e1' }, w)).toEqual({ kind: 'replay', from: 61 });
    expect(planResume({ since: 40 }, w)).toEqual({ kind: 'replay', from: 41 });
    expect(planResume({ since: 100 }, w)).toEqual({ kind: 'replay', from: 101 });
  });
  it('names exactly the lost range when the cursor is older than the window', () => {
    expect(planResume({ since: 10, epoch: 'e1' }, w)).toEqual({ kind: 'replay', from: 41, truncated: { from_seq: 11, to_seq: 40 } });
    expect(planResume({ since: 39 }, w)).toEqual({ kind: 'replay', from: 41, truncated: { from_seq: 40, to_seq: 40 } });
  });
  it('treats a cursor of another epoch as belonging to another log', () => {
    expect(planResume({ since: 5, epoch: 'old' }, w)).toEqual({ kind: 'replay', from: 41, truncated: { from_seq: 1, to_seq: 40 } });
    expect(planResume({ since: 500, epoch: 'old' }, { ...w, firstRetained: 1 })).toEqual({ kind: 'replay', from: 1, truncated: { from_seq: 1, to_seq: 0 } });
  });
  it('refuses a cursor beyond the head of the current epoch', () => {
    expect(planResume({ since: 101, epoch: 'e1' }, w)).toEqual({ kind: 'invalid' });
  });
  it('with history off, every cursor behind the head is truncated up to the head', () => {
    expect(planResume({ since: 3 }, { epoch: 'e1', head: 9, firstRetained: 10 })).toEqual({ kind: 'replay', from: 10, truncated: { from_seq: 4, to_seq: 9 } });
  });
});
