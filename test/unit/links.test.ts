/** Magic-link tokens: signed capabilities bound to namespace, alias, conversation, scope, generation and expiry. */
import { describe, expect, it } from 'vitest';
import { magicLink, signLink, verifyLink, type LinkClaims } from '../../src/control/links';

const SECRET = 'unit-test-link-secret-of-32-characters-or-more';
const NOW = 1_800_000_000;
const ULID_CONV = 'conv_01JZ8K3M4N5P6Q7R8S9T0VWXYZ';
const HEX_CONV = `conv_${'ab12'.repeat(16)}`;

const claims = (over: Partial<LinkClaims> = {}): LinkClaims => ({ conversation_id: ULID_CONV, scope: 'write', generation: 1, ...over });

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.';

describe('a signed token verifies to its claims', () => {
  it('round-trips write and read scopes, ULID and hex conversation ids, generations and expiry', () => {
    for (const c of [
      claims(),
      claims({ scope: 'read' }),
      claims({ conversation_id: HEX_CONV }),
      claims({ generation: 123_456 }),
      claims({ expires_at: NOW + 60 }),
    ]) {
      const t = signLink(SECRET, 'ns', 'room', c);
      const v = verifyLink(SECRET, 'ns', 'room', t, NOW);
      expect(v).toEqual({ ok: true, claims: { ...c, expires_at: c.expires_at } });
    }
  });

  it('is compact and url-safe', () => {
    const t = signLink(SECRET, 'ns', 'room', claims({ conversation_id: HEX_CONV, expires_at: NOW + 3600, generation: 99 }));
    expect(t).toMatch(/^[A-Za-z0-9._-]+$/);
    expect(t.length).toBeLessThan(120);
    expect(encodeURIComponent(t)).toBe(t);
  });

  it('puts the scope in a way that write and read tokens differ', () => {
    expect(signLink(SECRET, 'ns', 'room', claims({ scope: 'write' }))).not.toBe(signLink(SECRET, 'ns', 'room', claims({ scope: 'read' })));
  });
});

describe('a token is rejected when', () => {
  const token = signLink(SECRET, 'ns', 'room', claims({ expires_at: NOW + 600 }));

  it('any single character is replaced by any other token character, at any position', () => {
    let tried = 0;
    for (let i = 0; i < token.length; i++) {
      for (const ch of ALPHABET) {
        if (ch === token[i]) continue;
        const edited = token.slice(0, i) + ch + token.slice(i + 1);
        expect(verifyLink(SECRET, 'ns', 'room', edited, NOW).ok, `${i}:${ch}`).toBe(false);
        tried++;
      }
    }
    expect(tried).toBe(token.length * (ALPHABET.length - 1));
  });

  it('a character is inserted or deleted anywhere', () => {
    for (let i = 0; i <= token.length; i++) {
      expect(verifyLink(SECRET, 'ns', 'room', token.slice(0, i) + 'a' + token.slice(i), NOW).ok).toBe(false);
      if (i < token.length) expect(verifyLink(SECRET, 'ns', 'room', token.slice(0, i) + token.slice(i + 1), NOW).ok).toBe(false);
    }
  });

  it('it is presented at another namespace or alias', () => {
    expect(verifyLink(SECRET, 'ns2', 'room', token, NOW)).toEqual({ ok: false, why: 'bad_signature' });
    expect(verifyLink(SECRET, 'ns', 'room2', token, NOW)).toEqual({ ok: false, why: 'bad_signature' });
    // The separator keeps "ns"+"-room" and "ns-"+"room" apart.
    const joined = signLink(SECRET, 'a', 'b-c', claims());
    expect(verifyLink(SECRET, 'a-b', 'c', joined, NOW).ok).toBe(false);
  });

  it('it was signed with another secret', () => {
    expect(verifyLink(`${SECRET}x`, 'ns', 'room', token, NOW)).toEqual({ ok: false, why: 'bad_signature' });
  });

  it('it has expired: at its expiry second and after, but not before', () => {
    const t = signLink(SECRET, 'ns', 'room', claims({ expires_at: NOW + 10 }));
    expect(verifyLink(SECRET, 'ns', 'room', t, NOW + 9.999).ok).toBe(true);
    expect(verifyLink(SECRET, 'ns', 'room', t, NOW + 10)).toEqual({ ok: false, why: 'expired' });
    expect(verifyLink(SECRET, 'ns', 'room', t, NOW + 1_000_000)).toEqual({ ok: false, why: 'expired' });
  });

  it('its expiry is removed or moved', () => {
    const t = signLink(SECRET, 'ns', 'room', claims({ expires_at: NOW + 10 }));
    const [head, conv, , tag] = t.split('.');
    expect(verifyLink(SECRET, 'ns', 'room', `${head}.${conv}..${tag}`, NOW).ok).toBe(false);
    expect(verifyLink(SECRET, 'ns', 'room', `${head}.${conv}.${(NOW + 1e6).toString(36)}.${tag}`, NOW).ok).toBe(false);
  });

  it('its generation or scope is changed', () => {
    const t = signLink(SECRET, 'ns', 'room', claims({ scope: 'read', generation: 1 }));
    const [, conv, exp, tag] = t.split('.');
    expect(verifyLink(SECRET, 'ns', 'room', `r2.${conv}.${exp}.${tag}`, NOW).ok).toBe(false);
    expect(verifyLink(SECRET, 'ns', 'room', `w1.${conv}.${exp}.${tag}`, NOW).ok).toBe(false);
  });

  it('it names another conversation', () => {
    const t = signLink(SECRET, 'ns', 'room', claims());
    const [head, , exp, tag] = t.split('.');
    expect(verifyLink(SECRET, 'ns', 'room', `${head}.${HEX_CONV.slice(5)}.${exp}.${tag}`, NOW).ok).toBe(false);
  });

  it('it is malformed', () => {
    for (const bad of ['', 'x', '...', 'w1...', 'w1.abc.def', `${token}.x`, 'x'.repeat(300), token.replace(/\./g, '~')]) {
      expect(verifyLink(SECRET, 'ns', 'room', bad, NOW)).toEqual({ ok: false, why: 'malformed' });
    }
  });

  it('its tag is in a non-canonical base64url form with the same bytes', () => {
    const t = signLink(SECRET, 'ns', 'room', claims());
    const last = t[t.length - 1];
    const b64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    for (const ch of b64) {
      if (ch === last) continue;
      expect(verifyLink(SECRET, 'ns', 'room', t.slice(0, -1) + ch, NOW).ok).toBe(false);
    }
  });
});

describe('magicLink', () => {
  it('is {origin}/{ns}/conversations/{alias}?t={token}', () => {
    expect(magicLink('https://ams.example', 'ns', 'room', 'w1.abc..tag')).toBe('https://ams.example/ns/conversations/room?t=w1.abc..tag');
  });
});

