/** `id_kind: "jcs-sha256"`: conversation ids derived from any JSON, so parties agree without coordinating. */
import { sha256 } from '@noble/hashes/sha2.js';
import canonicalize from 'canonicalize';
import { beforeAll, describe, expect, it } from 'vitest';
import { bearer, call, expectError, inspectPath, mint, mintRaw, newAccount, uniqueName, type Account } from './control-helpers';

const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

/** The id the spec prescribes, computed here independently of the broker's code. */
function expectedId(input: unknown): string {
  return `conv_${hex(sha256(new TextEncoder().encode(canonicalize(input)!)))}`;
}

let owner: Account;
beforeAll(async () => {
  owner = await newAccount('derive');
});

describe('jcs-sha256 conversation ids', () => {
  it('derives conversation_id = "conv_" + hex(sha256(JCS(id_input)))', async () => {
    const id_input = { task: uniqueName('task'), parties: ['alice', 'bob'], round: 3, ok: true, none: null };
    const m = await mint(owner, { id_kind: 'jcs-sha256', id_input });
    expect(m.conversation_id).toBe(expectedId(id_input));
    expect(m.conversation_id).toMatch(/^conv_[0-9a-f]{64}$/);
  });

  it('hashes the RFC 8785 canonical text (sorted keys, no whitespace)', async () => {
    const tag = uniqueName('jcs');
    const canonical = `{"a":[1,"x",null,true],"b":2,"tag":"${tag}"}`;
    const m = await mint(owner, { id_kind: 'jcs-sha256', id_input: { tag, b: 2, a: [1, 'x', null, true] } });
    expect(m.conversation_id).toBe(`conv_${hex(sha256(new TextEncoder().encode(canonical)))}`);
  });

  it('accepts any JSON as id_input: a string, a number, an array', async () => {
    for (const id_input of [uniqueName('s'), Math.floor(Math.random() * 1e12) + 0.5, [uniqueName('arr'), 1, { x: [] }]]) {
      const m = await mint(owner, { id_kind: 'jcs-sha256', id_input });
      expect(m.conversation_id).toBe(expectedId(id_input));
    }
  });

  it('answers 409 when the same input is minted again, even with its keys reordered and another alias', async () => {
    const seed = uniqueName('again');
    await mint(owner, { id_kind: 'jcs-sha256', id_input: { seed, n: 1 } });
    const res = await mintRaw(owner, { id_kind: 'jcs-sha256', id_input: { n: 1, seed }, alias: uniqueName('elsewhere') });
    expect(res.status).toBe(409);
    const body = (await res.json()) as { error: string; message: string };
    expect(typeof body.message).toBe('string');
    expect(body.error).toBe('conversation_exists');
  });

  it('generates a valid alias from the derived id when none is given', async () => {
    const m = await mint(owner, { id_kind: 'jcs-sha256', id_input: { seed: uniqueName('alias') } });
    expect(m.alias).toMatch(/^[a-z0-9][a-z0-9-]{0,62}$/);
  });

  it('reports id_kind jcs-sha256 and the derived id on inspect', async () => {
    const id_input = { seed: uniqueName('insp') };
    const m = await mint(owner, { id_kind: 'jcs-sha256', id_input });
    const body = (await (await call(inspectPath(owner.namespace, m.alias), { headers: bearer(owner.credential) })).json()) as {
      id_kind: string; conversation_id: string;
    };
    expect(body).toMatchObject({ id_kind: 'jcs-sha256', conversation_id: expectedId(id_input) });
  });

  it('releases the derived id when the mint fails on a taken alias', async () => {
    const alias = uniqueName('busy');
    await mint(owner, { alias });
    const id_input = { seed: uniqueName('release') };
    await expectError(await mintRaw(owner, { id_kind: 'jcs-sha256', id_input, alias }), 409, 'alias_taken');
    const m = await mint(owner, { id_kind: 'jcs-sha256', id_input });
    expect(m.conversation_id).toBe(expectedId(id_input));
  });

  it('lets the derived id be minted again once its conversation is deleted', async () => {
    const id_input = { seed: uniqueName('reborn') };
    const first = await mint(owner, { id_kind: 'jcs-sha256', id_input });
    const del = await call(inspectPath(owner.namespace, first.alias), { method: 'DELETE', headers: bearer(owner.credential) });
    expect(del.status).toBe(200);
    const second = await mint(owner, { id_kind: 'jcs-sha256', id_input });
    expect(second.conversation_id).toBe(first.conversation_id);
  });

  it('ignores id_input for the default id kind', async () => {
    const m = await mint(owner, { id_input: { anything: 1 } });
    expect(m.conversation_id).toMatch(/^conv_[0-9A-HJKMNP-TV-Z]{26}$/);
  });
});
