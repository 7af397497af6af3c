import { describe, expect, it } from 'vitest';
import { parseMagicLink } from '../../src/mcp/link';
import { closedNotification, frameNotification, notificationsFor } from '../../src/mcp/notifications';
import { signResumeKey, verifyResumeKey, type ResumeClaims } from '../../src/mcp/resume-key';
import { errorBody } from '../../src/protocol/errors';

const SECRET = 'a-test-secret-that-is-long-enough-for-hmac';
const CLAIMS: ResumeClaims = { ns: 'acme', alias: 'calm-river-0042', conversation_id: 'conv_01J', member_id: 'str_01K', account_id: 'acc_01L', generation: 3 };

describe('resume_key', () => {
  it('round-trips its claims under the same secret', () => {
    expect(verifyResumeKey(SECRET, signResumeKey(SECRET, CLAIMS))).toEqual(CLAIMS);
  });

  it('keeps observer seats (no account) apart from streams', () => {
    const obs = { ...CLAIMS, member_id: 'obs_01M', account_id: null };
    expect(verifyResumeKey(SECRET, signResumeKey(SECRET, obs))).toEqual(obs);
  });

  it('is refused under another secret, altered, truncated or extended', () => {
    const key = signResumeKey(SECRET, CLAIMS);
    expect(verifyResumeKey(`${SECRET}-other`, key)).toBeUndefined();
    const [body, tag] = key.split('.');
    const forged = signResumeKey(SECRET, { ...CLAIMS, account_id: 'acc_someone_else' }).split('.')[0];
    expect(verifyResumeKey(SECRET, `${forged}.${tag}`)).toBeUndefined();
    expect(verifyResumeKey(SECRET, `${body}.${tag.slice(1)}`)).toBeUndefined();
    expect(verifyResumeKey(SECRET, `${key}.x`)).toBeUndefined();
    expect(verifyResumeKey(SECRET, key.replace('amsrk_', 'amsrx_'))).toBeUndefined();
    expect(verifyResumeKey(SECRET, '')).toBeUndefined();
  });

  it('cannot be a magic-link token or the reverse (separate domain label)', () => {
    expect(verifyResumeKey(SECRET, 'w1.01J0000000000000000000000..AAAAAAAAAAAAAAAAAAAAAA')).toBeUndefined();
  });
});

describe('parseMagicLink', () => {
  it('reads the link as minted and the variants agents copy around', () => {
    const want = { ns: 'acme', alias: 'calm-river-0042', t: 'w1.abc..tag' };
    for (const link of [
      'https://ams.example/acme/conversations/calm-river-0042?t=w1.abc..tag',
      'https://ams.example/acme/conversations/calm-river-0042/?t=w1.abc..tag',
      'https://ams.example/acme/conversations/calm-river-0042/mcp?t=w1.abc..tag',
      'wss://ams.example/acme/conversations/calm-river-0042/connect?t=w1.abc..tag',
      '  http://127.0.0.1:8787/acme/conversations/calm-river-0042?x=1&t=w1.abc..tag  ',
    ]) expect(parseMagicLink(link), link).toEqual(want);
  });

  it('names nothing for text that is not a magic link', () => {
    for (const text of ['not a url', 'https://ams.example/acme/conversations/calm-river-0042', 'https://ams.example/acme/calm-river-0042?t=x',
      'https://ams.example/Acme/conversations/x?t=x', 'https://ams.example/acme/conversations/x/history?t=x']) {
      expect(parseMagicLink(text), text).toBeUndefined();
    }
  });
});

describe('notifications', () => {
  const token = (seq: number) => ({ type: 'token', seq, data: `t${seq}`, stream_id: 'str_a' });

  it('are the wire frame without its type, under notifications/ams/{type}', () => {
    expect(frameNotification(token(7))).toEqual({ method: 'notifications/ams/token', params: { seq: 7, data: 't7', stream_id: 'str_a' } });
  });

  it('tell each frame once, however many reads overlap', () => {
    const first = notificationsFor({ frames: [token(3), token(4)], next_since: 4, head_seq: 4 }, 2);
    expect(first.list.map((n) => n.params.seq)).toEqual([3, 4]);
    const again = notificationsFor({ frames: [token(4), token(5)], next_since: 5, head_seq: 5 }, first.notified);
    expect(again.list.map((n) => n.params.seq)).toEqual([5]);
    expect(again.notified).toBe(5);
  });

  it('move the cursor past frames the reader does not hear', () => {
    expect(notificationsFor({ frames: [], next_since: 9, head_seq: 9 }, 2)).toEqual({ list: [], notified: 9 });
  });

  it('announce a truncation before what follows it, once', () => {
    const r = { frames: [token(11)], next_since: 11, head_seq: 11, truncated: { from_seq: 3, to_seq: 10, epoch: 'e' } };
    expect(notificationsFor(r, 2).list.map((n) => n.method)).toEqual(['notifications/ams/truncated', 'notifications/ams/token']);
    expect(notificationsFor(r, 10).list.map((n) => n.method)).toEqual(['notifications/ams/token']);
  });

  it('give a closed membership its WebSocket close code when it has one', () => {
    const at = { conversation_id: 'conv_x', stream_id: 'str_x' };
    expect(closedNotification('stream_displaced', 'taken over', at).params).toMatchObject({ reason: 'stream_displaced', code: 4901 });
    expect(closedNotification('conversation_not_found', 'gone', at).params).toMatchObject({ code: 4005 });
    expect(closedNotification('not_joined', 'left', at).params).not.toHaveProperty('code');
  });
});

describe('tool errors', () => {
  it('take their default sentence from the one error table', () => {
    expect(errorBody('not_joined').message).toContain('ams_join');
    expect(errorBody('invalid_metadata').message).toContain('16 KiB');
    expect(errorBody('read_only').message).toContain('observer');
    expect(errorBody('rate_limited', 'slow down').message).toBe('slow down');
  });
});
