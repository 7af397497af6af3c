/** The minter's stream is really registered at mint: connecting gets exactly the stream_id the mint returned. */
import { describe, expect, it } from 'vitest';
import { bearer, call, expectRejected, inspectPath, join, mint, newAccount } from './control-helpers';

describe("the minter's stream", () => {
  it('is the stream a minter connecting without a stream name gets in joined', async () => {
    const owner = await newAccount('minter-ws');
    const m = await mint(owner, { stream_metadata: { role: 'host' } });
    const s = await join(m.magic_link, { credential: owner.credential });
    expect(s.joined).toMatchObject({
      type: 'joined', conversation_id: m.conversation_id, stream_id: m.stream_id, stream_name: m.stream_name, metadata: { role: 'host' },
    });
    s.ws.close(1000, 'done');
    await s.closed;
  });

  it('keeps its stream_id and name for a minter that asked for an explicit stream name', async () => {
    const owner = await newAccount('minter-named');
    const m = await mint(owner, { stream_name: 'planner' });
    const s = await join(m.magic_link, { credential: owner.credential });
    expect(s.joined).toMatchObject({ stream_id: m.stream_id, stream_name: 'planner' });
    s.ws.close(1000, 'done');
    await s.closed;
  });

  it('is the stream a minter naming it explicitly on connect gets', async () => {
    const owner = await newAccount('minter-header');
    const m = await mint(owner);
    const s = await join(m.magic_link, { credential: owner.credential, headers: { 'x-ams-stream-name': m.stream_name } });
    expect(s.joined).toMatchObject({ stream_id: m.stream_id, stream_name: m.stream_name });
    s.ws.close(1000, 'done');
    await s.closed;
  });

  it('is shown to a peer in joined.peers once the minter is connected', async () => {
    const owner = await newAccount('minter-peer');
    const peer = await newAccount('peer');
    const m = await mint(owner);
    const host = await join(m.magic_link, { credential: owner.credential });
    const guest = await join(m.magic_link, { credential: peer.credential });
    const peers = guest.joined.peers as { stream_id: string; owner_account_id: string }[];
    expect(peers).toContainEqual(expect.objectContaining({ stream_id: m.stream_id, owner_account_id: owner.account_id }));
    expect(guest.joined.stream_id).not.toBe(m.stream_id);
    for (const s of [host, guest]) s.ws.close(1000, 'done');
    await Promise.all([host.closed, guest.closed]);
  });

  it("is held for the minter: another account asking for its name before the minter ever connects is refused 4004", async () => {
    const owner = await newAccount('minter-claim');
    const rival = await newAccount('rival');
    const m = await mint(owner, { stream_name: 'reserved' });
    await expectRejected(m.magic_link, 4004, 'stream_name_conflict', { credential: rival.credential, headers: { 'x-ams-stream-name': 'reserved' } });
    const s = await join(m.magic_link, { credential: owner.credential });
    expect(s.joined.stream_id).toBe(m.stream_id);
    s.ws.close(1000, 'done');
    await s.closed;
  });

  it('is listed by inspect right after mint, before anyone connects', async () => {
    const owner = await newAccount('minter-insp');
    const m = await mint(owner);
    const body = (await (await call(inspectPath(owner.namespace, m.alias), { headers: bearer(owner.credential) })).json()) as {
      streams: { stream_id: string; connected: boolean }[];
    };
    expect(body.streams).toEqual([expect.objectContaining({ stream_id: m.stream_id, connected: false })]);
  });
});
