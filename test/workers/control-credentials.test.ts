/** Account credentials: stored only as a peppered hash; a foreign or altered credential is refused. */
import { env, runInDurableObject } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { hashCredential } from '../../src/control/credentials';
import { secretsOf, type Env } from '../../src/control/env';
import { bearer, call, expectError, flipChar, inspectPath, jsonCall, mint, mintRaw, newAccount, type Account, type Minted } from './control-helpers';

const bindings = env as unknown as Env;

let owner: Account;
let stranger: Account;
let conv: Minted;
beforeAll(async () => {
  owner = await newAccount('cred');
  stranger = await newAccount('cred-other');
  conv = await mint(owner);
});

describe('credential storage', () => {
  it('keeps only the peppered hash in the account object: no stored value holds the credential or its secret', async () => {
    const secret = owner.credential.split('.')[1];
    const stub = bindings.ACCOUNTS.get(bindings.ACCOUNTS.idFromName(owner.namespace));
    const dump = await runInDurableObject(stub, (_instance, state) => {
      const tables = state.storage.sql.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_%' ESCAPE '\\' AND name NOT LIKE 'sqlite%'").toArray();
      const rows: Record<string, unknown>[] = [];
      for (const { name } of tables) rows.push(...state.storage.sql.exec(`SELECT * FROM "${name}"`).toArray());
      return rows;
    });
    const text = JSON.stringify(dump);
    expect(text).not.toContain(secret);
    expect(text).not.toContain(owner.credential);
    expect(text).toContain(hashCredential(owner.credential, secretsOf(bindings).pepper));
    // A hash without the pepper would be guessable from the credential alone; it must not be what is stored.
    expect(text).not.toContain(hashCredential(owner.credential, ''));
  });

  it('never echoes the credential or its hash in mint or inspect answers', async () => {
    const hash = hashCredential(owner.credential, secretsOf(bindings).pepper);
    const secret = owner.credential.split('.')[1];
    const minted = await (await mintRaw(owner, {})).text();
    const inspected = await (await call(inspectPath(owner.namespace, conv.alias), { headers: bearer(owner.credential) })).text();
    for (const text of [minted, inspected]) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain(hash);
    }
  });
});

describe('presenting credentials', () => {
  it('accepts the bearer scheme in any case', async () => {
    const res = await jsonCall('POST', `/v1/${owner.namespace}/conversations`, {}, { authorization: `bearer ${owner.credential}` });
    expect(res.status).toBe(201);
  });

  it("refuses another namespace's valid credential for minting with 403 namespace_mismatch", async () => {
    await expectError(await jsonCall('POST', `/v1/${owner.namespace}/conversations`, {}, bearer(stranger.credential)), 403, 'namespace_mismatch');
  });

  it("refuses another namespace's valid credential for links, rotation and deletion with 403 namespace_mismatch", async () => {
    const base = inspectPath(owner.namespace, conv.alias);
    await expectError(await jsonCall('POST', `${base}/links`, { scope: 'read' }, bearer(stranger.credential)), 403, 'namespace_mismatch');
    await expectError(await jsonCall('POST', `${base}/links/rotate`, undefined, bearer(stranger.credential)), 403, 'namespace_mismatch');
    await expectError(await call(base, { method: 'DELETE', headers: bearer(stranger.credential) }), 403, 'namespace_mismatch');
  });

  it('refuses a credential with any single character changed with 401 invalid_credential', async () => {
    const cred = owner.credential;
    const positions = new Set<number>([0, 3, 6, 7, cred.indexOf('.') - 1, cred.indexOf('.'), cred.indexOf('.') + 1, cred.length - 22, cred.length - 2, cred.length - 1]);
    for (const i of positions) {
      const altered = flipChar(cred, i);
      expect(altered).not.toBe(cred);
      await expectError(await jsonCall('POST', `/v1/${owner.namespace}/conversations`, {}, bearer(altered)), 401, 'invalid_credential');
    }
  });

  it('refuses every one-character edit of the secret part on inspect too', async () => {
    const cred = owner.credential;
    const start = cred.indexOf('.') + 1;
    for (let i = start; i < cred.length; i += 3) {
      await expectError(await call(inspectPath(owner.namespace, conv.alias), { headers: bearer(flipChar(cred, i)) }), 401, 'invalid_credential');
    }
  });

  it('refuses a truncated or extended credential with 401 invalid_credential', async () => {
    for (const altered of [owner.credential.slice(0, -1), `${owner.credential}A`, owner.credential.toUpperCase()]) {
      await expectError(await jsonCall('POST', `/v1/${owner.namespace}/conversations`, {}, bearer(altered)), 401, 'invalid_credential');
    }
  });

  it("refuses a credential carrying the owner's secret under another namespace's name", async () => {
    const forged = `ams_sk_${stranger.namespace}.${owner.credential.split('.')[1]}`;
    await expectError(await jsonCall('POST', `/v1/${stranger.namespace}/conversations`, {}, bearer(forged)), 401, 'invalid_credential');
  });
});
