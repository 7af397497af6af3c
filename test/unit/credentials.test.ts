/** Credentials: format, entropy, routing by namespace, the peppered hash, and the bearer header. */
import { describe, expect, it } from 'vitest';
import { bearerOf, credentialNamespace, hashCredential, newCredential } from '../../src/control/credentials';
import { constantTimeEqual } from '../../src/control/encoding';

const PEPPER = 'unit-test-pepper-of-at-least-32-characters';

describe('newCredential', () => {
  it('is ams_sk_{namespace}.{43 base64url characters}', () => {
    expect(newCredential('team-7')).toMatch(/^ams_sk_team-7\.[A-Za-z0-9_-]{43}$/);
  });

  it('carries 32 random bytes (256 bits) in its secret', () => {
    const secret = newCredential('ns').split('.')[1];
    const bin = atob(secret.replace(/-/g, '+').replace(/_/g, '/') + '=');
    expect(bin.length).toBe(32);
  });

  it('never repeats, and its characters are spread over the alphabet', () => {
    const secrets = Array.from({ length: 2000 }, () => newCredential('ns').split('.')[1]);
    expect(new Set(secrets).size).toBe(secrets.length);
    const seen = new Set(secrets.join(''));
    expect(seen.size).toBe(64);
  });
});

describe('credentialNamespace', () => {
  it('reads the namespace of a well-formed credential', () => {
    expect(credentialNamespace(newCredential('a'))).toBe('a');
    expect(credentialNamespace(newCredential('x'.repeat(63)))).toBe('x'.repeat(63));
  });

  it('refuses anything not shaped like a credential', () => {
    const good = newCredential('ns');
    const secret = good.split('.')[1];
    for (const bad of [
      '', 'ams_sk_', 'ams_sk_ns', 'ams_sk_ns.', `ams_sk_ns.${secret}x`, `ams_sk_ns.${secret.slice(1)}`, `ams_sk_NS.${secret}`,
      `ams_pk_ns.${secret}`, `AMS_SK_ns.${secret}`, `ams_sk_-ns.${secret}`, `ams_sk_ns.${secret.slice(1)}+`, `ams_sk_ns.${secret.slice(1)}=`,
      `ams_sk_${'x'.repeat(64)}.${secret}`, ` ${good}`, `ams_sk_n.s.${secret}`,
    ]) {
      expect(credentialNamespace(bad), bad).toBeUndefined();
    }
  });
});

describe('hashCredential', () => {
  it('is 64 hex characters (HMAC-SHA-256) and deterministic', () => {
    const c = newCredential('ns');
    expect(hashCredential(c, PEPPER)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashCredential(c, PEPPER)).toBe(hashCredential(c, PEPPER));
  });

  it('depends on the pepper', () => {
    const c = newCredential('ns');
    expect(hashCredential(c, PEPPER)).not.toBe(hashCredential(c, `${PEPPER}!`));
    expect(hashCredential(c, PEPPER)).not.toBe(hashCredential(c, ''));
  });

  it('depends on every character of the credential', () => {
    const c = newCredential('ns');
    const h = hashCredential(c, PEPPER);
    for (let i = 0; i < c.length; i++) {
      const edited = c.slice(0, i) + (c[i] === 'A' ? 'B' : 'A') + c.slice(i + 1);
      expect(hashCredential(edited, PEPPER)).not.toBe(h);
    }
  });

  it('does not contain the credential or its secret', () => {
    const c = newCredential('ns');
    const h = hashCredential(c, PEPPER);
    expect(h).not.toContain(c.split('.')[1]);
  });
});

describe('bearerOf', () => {
  it('reads a Bearer credential, with any scheme case and surrounding space', () => {
    expect(bearerOf('Bearer ams_sk_x.y')).toBe('ams_sk_x.y');
    expect(bearerOf('bearer ams_sk_x.y')).toBe('ams_sk_x.y');
    expect(bearerOf('  BEARER   ams_sk_x.y  ')).toBe('ams_sk_x.y');
  });

  it('is undefined without a header and empty for any other scheme or shape', () => {
    expect(bearerOf(undefined)).toBeUndefined();
    expect(bearerOf(null)).toBeUndefined();
    expect(bearerOf('')).toBeUndefined();
    expect(bearerOf('Basic YTpi')).toBeUndefined();
    expect(bearerOf('Bearer')).toBe('');
    expect(bearerOf('Bearer a b')).toBe('');
  });
});

describe('constantTimeEqual', () => {
  it('is true only for equal byte strings', () => {
    const a = new Uint8Array([1, 2, 3]);
    expect(constantTimeEqual(a, new Uint8Array([1, 2, 3]))).toBe(true);
    expect(constantTimeEqual(a, new Uint8Array([1, 2, 4]))).toBe(false);
    expect(constantTimeEqual(a, new Uint8Array([1, 2]))).toBe(false);
    expect(constantTimeEqual(new Uint8Array(), new Uint8Array())).toBe(true);
  });
});
