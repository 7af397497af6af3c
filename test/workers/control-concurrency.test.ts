/** Uniqueness under concurrency: namespaces and aliases are claimed atomically in Durable Objects. */
import { describe, expect, it } from 'vitest';
import { bearer, call, expectError, inspectPath, jsonCall, mint, mintRaw, newAccount, uniqueName } from './control-helpers';

const statuses = (responses: Response[]) => responses.map((r) => r.status).sort();

describe('concurrent account creation', () => {
  it('gives exactly one 201 and one 409 namespace_taken to two simultaneous requests for one namespace', async () => {
    for (let round = 0; round < 5; round++) {
      const namespace = uniqueName('race');
      const results = await Promise.all([0, 1].map(() => jsonCall('POST', '/v1/accounts', { namespace })));
      expect(statuses(results)).toEqual([201, 409]);
      await expectError(results.find((r) => r.status === 409)!, 409, 'namespace_taken');
      const winner = (await results.find((r) => r.status === 201)!.json()) as { credential: string };
      expect((await jsonCall('POST', `/v1/${namespace}/conversations`, {}, bearer(winner.credential))).status).toBe(201);
    }
  });

  it('gives exactly one 201 among ten simultaneous requests for one namespace', async () => {
    const namespace = uniqueName('race10');
    const results = await Promise.all(Array.from({ length: 10 }, () => jsonCall('POST', '/v1/accounts', { namespace })));
    expect(statuses(results)).toEqual([201, ...Array(9).fill(409)]);
  });
});

describe('concurrent minting', () => {
  it('gives exactly one 201 and one 409 alias_taken to two simultaneous mints of one alias', async () => {
    const owner = await newAccount('alias-race');
    for (let round = 0; round < 5; round++) {
      const alias = uniqueName('room');
      const results = await Promise.all(['one', 'two'].map((stream_name) => mintRaw(owner, { alias, stream_name })));
      expect(statuses(results)).toEqual([201, 409]);
      await expectError(results.find((r) => r.status === 409)!, 409, 'alias_taken');
      const winner = (await results.find((r) => r.status === 201)!.json()) as { conversation_id: string; stream_name: string };
      const inspected = (await (await call(inspectPath(owner.namespace, alias), { headers: bearer(owner.credential) })).json()) as {
        conversation_id: string; streams: { stream_name: string }[];
      };
      expect(inspected.conversation_id).toBe(winner.conversation_id);
      expect(inspected.streams.map((s) => s.stream_name)).toEqual([winner.stream_name]);
    }
  });

  it('gives every one of many simultaneous mints without an alias its own alias', async () => {
    const owner = await newAccount('many-mints');
    const results = await Promise.all(Array.from({ length: 40 }, () => mintRaw(owner, {})));
    expect(results.every((r) => r.status === 201)).toBe(true);
    const minted = (await Promise.all(results.map((r) => r.json()))) as { alias: string; conversation_id: string }[];
    expect(new Set(minted.map((m) => m.alias)).size).toBe(40);
    expect(new Set(minted.map((m) => m.conversation_id)).size).toBe(40);
    for (const m of minted.slice(0, 5)) {
      const inspected = (await (await call(inspectPath(owner.namespace, m.alias), { headers: bearer(owner.credential) })).json()) as { conversation_id: string };
      expect(inspected.conversation_id).toBe(m.conversation_id);
    }
  });

  it('gives exactly one 201 to two simultaneous jcs-sha256 mints of the same input', async () => {
    const owner = await newAccount('derive-race');
    const id_input = { seed: uniqueName('same') };
    const results = await Promise.all([uniqueName('x'), uniqueName('y')].map((alias) => mintRaw(owner, { id_kind: 'jcs-sha256', id_input, alias })));
    expect(statuses(results)).toEqual([201, 409]);
    await expectError(results.find((r) => r.status === 409)!, 409, 'conversation_exists');
  });

  it('keeps both conversations when two namespaces mint the same alias at once', async () => {
    const [a, b] = await Promise.all([newAccount('ns-a'), newAccount('ns-b')]);
    const alias = uniqueName('same-alias');
    const [ma, mb] = await Promise.all([mint(a, { alias }), mint(b, { alias })]);
    expect(ma.conversation_id).not.toBe(mb.conversation_id);
  });
});
