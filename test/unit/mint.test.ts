/** parseMintRequest: defaults, and one documented error per bad field. */
import { describe, expect, it } from 'vitest';
import { parseMintRequest } from '../../src/control/mint';
import { AmsError } from '../../src/protocol/errors';
import { LIMITS } from '../../src/protocol/limits';
import type { JsonObject } from '../../src/protocol/frames';

function codeOf(body: JsonObject): string {
  try {
    parseMintRequest(body);
    return 'ok';
  } catch (err) {
    expect(err).toBeInstanceOf(AmsError);
    return (err as AmsError).code;
  }
}

describe('parseMintRequest defaults', () => {
  it('turns {} into ulid ids, empty metadata, no alias or stream name, the default history and quiet gap', () => {
    expect(parseMintRequest({})).toEqual({
      alias: undefined, stream_name: undefined, metadata: {}, stream_metadata: {}, id_kind: 'ulid', id_input: undefined,
      history: { max_frames: LIMITS.historyMaxFrames, max_age_s: LIMITS.historyMaxAgeSeconds }, utterance_gap_ms: LIMITS.utteranceGapDefaultMs,
      instructions: '',
    });
  });

  it('takes instructions as plain text of at most 2,000 characters (code points), and nothing else', () => {
    expect(parseMintRequest({ instructions: 'Plan the release.\n\tStep one.' }).instructions).toBe('Plan the release.\n\tStep one.');
    expect(parseMintRequest({ instructions: '🙂'.repeat(LIMITS.instructionsChars) }).instructions).toHaveLength(2 * LIMITS.instructionsChars);
    for (const bad of ['x'.repeat(LIMITS.instructionsChars + 1), 7, null, ['a'], { a: 1 }, 'nul\u0000', 'esc\u001b[31m', 'c1\u0085', 'lone \ud800']) {
      expect(() => parseMintRequest({ instructions: bad as never }), JSON.stringify(bad)).toThrow(expect.objectContaining({ code: 'invalid_instructions' }));
    }
  });

  it('takes utterance_gap_ms as an integer within its limits, and nothing else', () => {
    expect(parseMintRequest({ utterance_gap_ms: LIMITS.utteranceGapMinMs }).utterance_gap_ms).toBe(LIMITS.utteranceGapMinMs);
    expect(parseMintRequest({ utterance_gap_ms: LIMITS.utteranceGapMaxMs }).utterance_gap_ms).toBe(LIMITS.utteranceGapMaxMs);
    for (const gap of [LIMITS.utteranceGapMinMs - 1, LIMITS.utteranceGapMaxMs + 1, 500.5, '500', null, true, [500], Number.NaN]) {
      expect(() => parseMintRequest({ utterance_gap_ms: gap as never }), String(gap)).toThrow(expect.objectContaining({ code: 'invalid_utterance_gap' }));
    }
  });

  it('reads "uuid" as the default id kind', () => {
    expect(parseMintRequest({ id_kind: 'uuid' }).id_kind).toBe('ulid');
    expect(parseMintRequest({ id_kind: 'ulid' }).id_kind).toBe('ulid');
  });

  it('keeps metadata objects as given (same content, same key order)', () => {
    const metadata = { z: 1, a: { y: [1, null] } };
    const r = parseMintRequest({ metadata, stream_metadata: { role: 'x' } });
    expect(JSON.stringify(r.metadata)).toBe(JSON.stringify(metadata));
    expect(r.stream_metadata).toEqual({ role: 'x' });
  });

  it('takes partial history settings, keeping the other default', () => {
    expect(parseMintRequest({ history: { max_frames: 5 } }).history).toEqual({ max_frames: 5, max_age_s: LIMITS.historyMaxAgeSeconds });
    expect(parseMintRequest({ history: {} }).history).toEqual({ max_frames: LIMITS.historyMaxFrames, max_age_s: LIMITS.historyMaxAgeSeconds });
  });

  it('turns history off entirely when either setting is 0', () => {
    expect(parseMintRequest({ history: { max_frames: 0 } }).history).toEqual({ max_frames: 0, max_age_s: 0 });
    expect(parseMintRequest({ history: { max_age_s: 0 } }).history).toEqual({ max_frames: 0, max_age_s: 0 });
  });

  it('accepts history settings at their caps', () => {
    expect(codeOf({ history: { max_frames: LIMITS.historyMaxFramesCap, max_age_s: LIMITS.historyMaxAgeSecondsCap } })).toBe('ok');
  });

  it('accepts jcs-sha256 with any JSON id_input, including null and false', () => {
    for (const id_input of [{ a: 1 }, [1], 'x', 0, null, false]) {
      const r = parseMintRequest({ id_kind: 'jcs-sha256', id_input } as JsonObject);
      expect(r.id_kind).toBe('jcs-sha256');
      expect(r.id_input).toEqual(id_input);
    }
  });
});

describe('parseMintRequest errors', () => {
  const cases: [JsonObject, string][] = [
    [{ alias: 1 }, 'invalid_alias'],
    [{ alias: 'Bad' }, 'invalid_alias'],
    [{ alias: '' }, 'invalid_alias'],
    [{ stream_name: false }, 'invalid_stream_name'],
    [{ stream_name: '-x' }, 'invalid_stream_name'],
    [{ metadata: [] }, 'invalid_metadata'],
    [{ metadata: null }, 'invalid_metadata'],
    [{ metadata: 'x' }, 'invalid_metadata'],
    [{ metadata: { k: 'x'.repeat(LIMITS.metadataBytes) } }, 'invalid_metadata'],
    [{ stream_metadata: [] }, 'invalid_stream_metadata'],
    [{ stream_metadata: 3 }, 'invalid_stream_metadata'],
    [{ stream_metadata: { k: 'x'.repeat(LIMITS.metadataBytes) } }, 'invalid_stream_metadata'],
    [{ id_kind: 'uuid4' }, 'unsupported_id_kind'],
    [{ id_kind: null }, 'unsupported_id_kind'],
    [{ id_kind: 'jcs-sha256' }, 'invalid_id_input'],
    [{ id_kind: 'jcs-sha256', id_input: '\udfff' }, 'invalid_id_input'],
    [{ history: null }, 'invalid_history'],
    [{ history: [] }, 'invalid_history'],
    [{ history: { max_frames: -1 } }, 'invalid_history'],
    [{ history: { max_frames: 2.5 } }, 'invalid_history'],
    [{ history: { max_age_s: '60' } }, 'invalid_history'],
    [{ history: { max_frames: LIMITS.historyMaxFramesCap + 1 } }, 'invalid_history'],
    [{ history: { max_age_s: LIMITS.historyMaxAgeSecondsCap + 1 } }, 'invalid_history'],
  ];
  for (const [body, code] of cases) {
    it(`refuses ${JSON.stringify(body).slice(0, 60)} with ${code}`, () => {
      expect(codeOf(body)).toBe(code);
    });
  }

  it('checks fields in a fixed order: alias, stream_name, metadata, stream_metadata, id_kind, history', () => {
    expect(codeOf({ alias: 1, stream_name: 1, metadata: 1, stream_metadata: 1, id_kind: 1, history: 1 })).toBe('invalid_alias');
    expect(codeOf({ stream_name: 1, metadata: 1, stream_metadata: 1, id_kind: 1, history: 1 })).toBe('invalid_stream_name');
    expect(codeOf({ metadata: 1, stream_metadata: 1, id_kind: 1, history: 1 })).toBe('invalid_metadata');
    expect(codeOf({ stream_metadata: 1, id_kind: 1, history: 1 })).toBe('invalid_stream_metadata');
    expect(codeOf({ id_kind: 1, history: 1 })).toBe('unsupported_id_kind');
  });
});
