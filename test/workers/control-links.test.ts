/** Magic-link tokens as capabilities, and `POST …/links` minting more of them. */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  bearer, call, expectError, expectRejected, flipChar, inspectPath, join, jsonCall, mint, newAccount, tokenOf, uniqueName, withToken,
  type Account, type Minted,
} from './control-helpers';

let owner: Account;
let stranger: Account;
let conv: Minted;
beforeAll(async () => {
  owner = await newAccount('links');
  stranger = await newAccount('links-other');
  conv = await mint(owner);
});

const inspectWithToken = (t: string, ns = owner.namespace, alias = conv.alias) => call(inspectPath(ns, alias, t));
const linksPath = (alias = conv.alias) => `${inspectPath(owner.namespace, alias)}/links`;

interface LinkAnswer {
  link: string;
  scope: string;
  generation: number;
  expires_at: string | null;
}

describe('tampered tokens are rejected', () => {
  it('rejects the write token with any one character edited, at every position', async () => {
    const t = tokenOf(conv.magic_link);
    for (let i = 0; i < t.length; i++) {
      const edited = flipChar(t, i);
      await expectError(await inspectWithToken(edited), 403, 'invalid_magic_link');
    }
  });

  it('rejects the observer token with any one character edited, at every position', async () => {
    const t = tokenOf(conv.observer_link);
    for (let i = 0; i < t.length; i++) {
      await expectError(await inspectWithToken(flipChar(t, i)), 403, 'invalid_magic_link');
    }
  });

  it('rejects a token with a character added or removed', async () => {
    const t = tokenOf(conv.magic_link);
    for (const edited of [`${t}A`, t.slice(0, -1), `A${t}`, t.slice(1), t.replace('.', '..')]) {
      await expectError(await inspectWithToken(edited), 403, 'invalid_magic_link');
    }
  });

  it('turning a read token into a write token by editing its scope letter is rejected', async () => {
    const t = tokenOf(conv.observer_link);
    expect(t[0]).toBe('r');
    await expectError(await inspectWithToken(`w${t.slice(1)}`), 403, 'invalid_magic_link');
  });

  it('closes a WebSocket presenting an edited token with 4001 invalid_magic_link', async () => {
    const t = tokenOf(conv.magic_link);
    for (const i of [0, Math.floor(t.length / 2), t.length - 1]) {
      await expectRejected(withToken(conv.magic_link, flipChar(t, i)), 4001, 'invalid_magic_link', { credential: owner.credential });
    }
  });

  it('closes a WebSocket without t= with 4001 invalid_magic_link', async () => {
    const u = new URL(conv.magic_link);
    u.search = '';
    await expectRejected(u.toString(), 4001, 'invalid_magic_link', { credential: owner.credential });
  });
});

describe('a token is valid only for its own conversation', () => {
  it('rejects the token of another conversation of the same namespace', async () => {
    const other = await mint(owner);
    await expectError(await inspectWithToken(tokenOf(other.magic_link)), 403, 'invalid_magic_link');
    await expectError(await inspectWithToken(tokenOf(other.observer_link)), 403, 'invalid_magic_link');
    await expectRejected(withToken(conv.magic_link, tokenOf(other.magic_link)), 4001, 'invalid_magic_link', { credential: owner.credential });
  });

  it('rejects the token of a conversation with the same alias in another namespace', async () => {
    const alias = uniqueName('twin');
    const mine = await mint(owner, { alias });
    const theirs = await mint(stranger, { alias });
    await expectError(await inspectWithToken(tokenOf(theirs.magic_link), owner.namespace, alias), 403, 'invalid_magic_link');
    await expectRejected(withToken(mine.magic_link, tokenOf(theirs.magic_link)), 4001, 'invalid_magic_link', { credential: owner.credential });
    expect((await inspectWithToken(tokenOf(mine.magic_link), owner.namespace, alias)).status).toBe(200);
  });
});

describe('POST …/links', () => {
  it('mints a read link that inspects and admits an observer without a credential', async () => {
    const res = await jsonCall('POST', linksPath(), { scope: 'read' }, bearer(owner.credential));
    expect(res.status).toBe(201);
    const body = (await res.json()) as LinkAnswer;
    expect(body).toMatchObject({ scope: 'read', generation: 1, expires_at: null });
    expect(body.link.startsWith(`https://ams.test/${owner.namespace}/conversations/${conv.alias}?t=`)).toBe(true);
    expect((await inspectWithToken(tokenOf(body.link))).status).toBe(200);
    const s = await join(body.link);
    expect(s.joined).toMatchObject({ stream_id: null, scope: 'read' });
    s.ws.close(1000, 'done');
    await s.closed;
  });

  it('mints a write link that admits a credentialed writer, and refuses one without a credential (4002)', async () => {
    const res = await jsonCall('POST', linksPath(), { scope: 'write' }, bearer(owner.credential));
    expect(res.status).toBe(201);
    const body = (await res.json()) as LinkAnswer;
    expect(body.scope).toBe('write');
    const s = await join(body.link, { credential: stranger.credential });
    expect(s.joined.scope).toBe('write');
    expect(typeof s.joined.stream_id).toBe('string');
    s.ws.close(1000, 'done');
    await s.closed;
    await expectRejected(body.link, 4002, 'invalid_credential');
  });

  it('mints a write link when no scope is given', async () => {
    const res = await call(linksPath(), { method: 'POST', headers: bearer(owner.credential) });
    expect(res.status).toBe(201);
    expect(((await res.json()) as LinkAnswer).scope).toBe('write');
  });

  it('mints an expiring link that reports its expiry and works before it', async () => {
    const before = Date.now();
    const res = await jsonCall('POST', linksPath(), { scope: 'read', expires_in: 3600 }, bearer(owner.credential));
    expect(res.status).toBe(201);
    const body = (await res.json()) as LinkAnswer;
    const expires = Date.parse(body.expires_at!);
    expect(expires).toBeGreaterThanOrEqual(before + 3599_000 - 1000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 3600_000 + 1000);
    expect((await inspectWithToken(tokenOf(body.link))).status).toBe(200);
  });

  it('rejects an expired link on inspect (403) and on connect (4001)', async () => {
    const res = await jsonCall('POST', linksPath(), { scope: 'write', expires_in: 1 }, bearer(owner.credential));
    expect(res.status).toBe(201);
    const { link } = (await res.json()) as LinkAnswer;
    await new Promise((r) => setTimeout(r, 2100));
    await expectError(await inspectWithToken(tokenOf(link)), 403, 'invalid_magic_link');
    await expectRejected(link, 4001, 'invalid_magic_link', { credential: owner.credential });
  });

  const badBodies: [string, unknown, string][] = [
    ['an unknown scope', { scope: 'admin' }, 'invalid_scope'],
    ['a numeric scope', { scope: 1 }, 'invalid_scope'],
    ['an upper-case scope', { scope: 'READ' }, 'invalid_scope'],
    ['a null scope', { scope: null }, 'invalid_scope'],
    ['expires_in of 0', { expires_in: 0 }, 'invalid_expires_in'],
    ['a negative expires_in', { expires_in: -5 }, 'invalid_expires_in'],
    ['a fractional expires_in', { expires_in: 1.5 }, 'invalid_expires_in'],
    ['a string expires_in', { expires_in: '60' }, 'invalid_expires_in'],
    ['a null expires_in', { expires_in: null }, 'invalid_expires_in'],
    ['expires_in over a year', { expires_in: 365 * 24 * 3600 + 1 }, 'invalid_expires_in'],
  ];
  for (const [what, body, code] of badBodies) {
    it(`rejects ${what} with 400 ${code}`, async () => {
      await expectError(await jsonCall('POST', linksPath(), body, bearer(owner.credential)), 400, code);
    });
  }

  it('rejects a body that is not a JSON object with 400 invalid_json', async () => {
    await expectError(await jsonCall('POST', linksPath(), '["read"]', bearer(owner.credential)), 400, 'invalid_json');
  });

  it('needs the owner: 401 without a credential, 403 namespace_mismatch for another account', async () => {
    await expectError(await jsonCall('POST', linksPath(), { scope: 'read' }), 401, 'missing_credential');
    await expectError(await jsonCall('POST', linksPath(), { scope: 'read' }, bearer(stranger.credential)), 403, 'namespace_mismatch');
  });

  it('answers 404 conversation_not_found for an unknown alias', async () => {
    await expectError(await jsonCall('POST', linksPath(uniqueName('none')), { scope: 'read' }, bearer(owner.credential)), 404, 'conversation_not_found');
  });
});
