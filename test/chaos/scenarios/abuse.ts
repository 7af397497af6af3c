/**
 * Hostile and greedy clients: oversized frames and bodies, malformed frames
 * from many sockets at once, raw WebSocket protocol violations below the JSON
 * layer, a stream flooding past its rate limit, and a conversation filled to
 * its connection cap. Each offender gets its documented code; bystanders keep
 * hearing every frame, in order.
 */
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { connect as tcpConnect, type Socket } from 'node:net';
import { connectUrl, linkRoute } from '../../../src/client';
import { CLOSE } from '../../../src/protocol/close-codes';
import { LIMITS } from '../../../src/protocol/limits';
import { assert, assertContiguous, loggedOf, receiptsOf, sleep, type World } from '../world';
import type { Scenario } from '../runner';

type Sock = ReturnType<World['open']>;

/** A live conversation with an emitter (receipts) and an observer that must hear everything. */
async function stage(w: World, prefix: string, body: Record<string, unknown> = {}) {
  const A = await w.account(`${prefix}-a`);
  const B = await w.account(`${prefix}-b`);
  const conv = await w.mint(A, body);
  w.track(A, conv);
  const bystander = w.open(conv.observer_link);
  const start = (await bystander.joined).seq;
  const emitter = w.open(conv.magic_link, { credential: A.credential, receipts: true, streamName: 'steady' });
  await emitter.joined;
  let sent = 0;
  const beat = async (k = 1) => {
    for (let i = 0; i < k; i++) emitter.send(`beat-${sent++}`);
    w.tally.tokensEmitted += k;
    await w.until(() => receiptsOf(emitter).length === sent, 'heartbeat receipts');
    const head = receiptsOf(emitter).at(-1)!.seq;
    await w.until(() => bystander.lastSeq >= head, 'bystander at the head');
    return head;
  };
  /** The bystander heard every logged frame since it joined, and every heartbeat in order. */
  const intact = async () => {
    const head = await beat();
    assertContiguous(loggedOf(bystander).map((f) => f.seq), start + 1, head, 'bystander');
    assert.deepEqual(bystander.tokens().filter((t) => t.startsWith('beat-')), Array.from({ length: sent }, (_, i) => `beat-${i}`));
    assert.equal(emitter.ws.readyState, 1, 'the emitter is still connected');
    w.tally.framesVerified += loggedOf(bystander).length;
  };
  return { A, B, conv, bystander, emitter, beat, intact };
}

async function closedWith(s: Sock, reason: keyof typeof CLOSE, what: string): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: still open after 30 s, expected ${CLOSE[reason].code} ${reason}`)), 30_000)));
  const closed = await Promise.race([s.closed, late]).finally(() => clearTimeout(timer));
  assert.deepEqual(closed, { code: CLOSE[reason].code, reason }, what);
}

export const oversizedFrames: Scenario = {
  name: 'oversized-frames',
  what: 'tokens at and over 64 KiB, messages over 512 KiB and 2 MiB, metadata over 16 KiB, oversized headers and bodies',
  async run(w) {
    const { B, conv, bystander, intact } = await stage(w, 'big');
    const cases: Array<{ what: string; raw: () => string; reason: keyof typeof CLOSE }> = [
      { what: '65,537-byte token', raw: () => JSON.stringify({ type: 'token', data: `${'€'.repeat(21_845)}ab` }), reason: 'token_too_large' },
      { what: '600 KiB message', raw: () => JSON.stringify({ type: 'token', data: ' '.repeat(600 * 1024) }), reason: 'token_too_large' },
      { what: '2 MiB message', raw: () => JSON.stringify({ type: 'set_metadata', metadata: { k: 'x'.repeat(2 * 1024 * 1024) } }), reason: 'token_too_large' },
      { what: 'metadata of 16 KiB + 1', raw: () => JSON.stringify({ type: 'set_metadata', metadata: { k: 'x'.repeat(LIMITS.metadataBytes - 7) } }), reason: 'malformed_frame' },
    ];
    for (const c of cases) {
      const s = w.open(conv.magic_link, { credential: B.credential, streamName: 'big-b' });
      await s.joined;
      s.sendRaw(c.raw());
      await closedWith(s, c.reason, c.what);
      w.tally.badInputs += 1;
    }
    // Exactly at the limit is carried intact.
    const exact = `${'€'.repeat(21_845)}a`;
    assert.equal(new TextEncoder().encode(exact).length, LIMITS.tokenBytes);
    const s = w.open(conv.magic_link, { credential: B.credential, streamName: 'big-b', receipts: true });
    await s.joined;
    s.send(exact);
    await w.until(() => receiptsOf(s).length === 1, 'receipt for the 64 KiB token');
    await w.until(() => bystander.tokens().includes(exact), 'the 64 KiB token delivered intact');
    s.close();
    // An oversized metadata header is refused at connect.
    const bigMeta = Buffer.from(JSON.stringify({ k: 'x'.repeat(LIMITS.metadataBytes) })).toString('base64');
    const hdr = w.open(`${conv.magic_link}&stream_metadata=${encodeURIComponent(bigMeta)}`, { credential: B.credential });
    await closedWith(hdr, 'invalid_stream_metadata_header', 'oversized metadata parameter');
    w.tally.badInputs += 1;
    // Oversized bodies on the HTTP side.
    const tooBig = await fetch(linkRoute(conv.magic_link, 'tokens'), { method: 'POST', headers: { authorization: `Bearer ${B.credential}`, 'content-type': 'text/plain' }, body: 'x'.repeat(LIMITS.tokensBodyBytes + 1) });
    assert.equal(tooBig.status, 413);
    assert.equal(((await tooBig.json()) as { error: string }).error, 'body_too_large');
    const tooMany = await fetch(linkRoute(conv.magic_link, 'tokens'), { method: 'POST', headers: { authorization: `Bearer ${B.credential}`, 'content-type': 'application/json' }, body: JSON.stringify(Array.from({ length: LIMITS.tokensPerBatch + 1 }, () => 'x')) });
    assert.equal(((await tooMany.json()) as { error: string }).error, 'too_many_tokens');
    const bigMint = await fetch(`${w.broker.url}/v1/accounts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ namespace: 'x'.repeat(LIMITS.controlBodyBytes) }) });
    assert.equal(((await bigMint.json()) as { error: string }).error, 'body_too_large');
    w.tally.badInputs += 3;
    await intact();
    return { oversized_inputs: cases.length + 4 };
  },
};

/** Bad frames, each with the close it earns. */
const BAD_FRAMES: Array<{ raw: string; reason: keyof typeof CLOSE; parses?: true }> = [
  { raw: '{', reason: 'malformed_frame' },
  { raw: 'null', reason: 'malformed_frame' },
  { raw: '[]', reason: 'malformed_frame' },
  { raw: '"token"', reason: 'malformed_frame' },
  { raw: '{"type":1}', reason: 'malformed_frame' },
  { raw: '{"data":"no type"}', reason: 'malformed_frame' },
  { raw: '{"type":"token"}', reason: 'malformed_frame' },
  { raw: '{"type":"token","data":42}', reason: 'malformed_frame' },
  { raw: '{"type":"token","data":"x","ref":0}', reason: 'malformed_frame' },
  { raw: '{"type":"token","data":"x","ref":1.5}', reason: 'malformed_frame' },
  // Well-formed, wrong only against the log: an observer is refused as read-only first.
  { raw: '{"type":"token","data":"x","ref":99999999}', reason: 'malformed_frame', parses: true },
  { raw: '{"type":"token","data":"x","id":""}', reason: 'malformed_frame' },
  { raw: `{"type":"token","data":"x","id":"${'i'.repeat(65)}"}`, reason: 'malformed_frame' },
  { raw: '{"type":"token","data":"\\ud800"}', reason: 'malformed_frame' },
  { raw: '{"type":"set_metadata","metadata":[]}', reason: 'malformed_frame' },
  { raw: '{"type":"set_metadata","metadata":"x"}', reason: 'malformed_frame' },
  { raw: '{"type":"subscribe"}', reason: 'unknown_frame_type' },
  { raw: '{"type":"__proto__"}', reason: 'unknown_frame_type' },
  { raw: '{"type":"constructor","data":"x"}', reason: 'unknown_frame_type' },
  { raw: '{"type":"TOKEN","data":"x"}', reason: 'unknown_frame_type' },
  { raw: '{"type":"joined"}', reason: 'unknown_frame_type' },
];

export const malformedProtocol: Scenario = {
  name: 'malformed-protocol',
  what: 'waves of sockets each send one malformed frame (JSON, types, refs, ids, binary) while a steady emitter streams',
  async run(w) {
    const { B, conv, beat, intact } = await stage(w, 'bad');
    const waves = w.n(4, 12);
    const perWave = 20;
    let tried = 0;
    for (let wave = 0; wave < waves; wave++) {
      const round = Array.from({ length: perWave }, (_, i) => {
        const binary = w.pick(10) === 0;
        const bad = BAD_FRAMES[w.pick(BAD_FRAMES.length)];
        // Nine writers of B, the same nine names every wave: an account registers at most ten streams per conversation.
        const observer = i >= 9;
        const s = observer ? w.open(conv.observer_link) : w.open(conv.magic_link, { credential: B.credential, streamName: `bad-${i}` });
        return { s, bad, binary, observer };
      });
      await Promise.all(round.map((r) => r.s.joined));
      for (const r of round) {
        if (r.binary) (r.s.ws as unknown as { send(d: Buffer): void }).send(randomBytes(8));
        else r.s.sendRaw(r.bad.raw);
      }
      const steady = beat(10);
      for (const r of round) {
        const reason = r.binary ? 'malformed_frame' : r.observer && r.bad.parses ? 'read_only' : r.bad.reason;
        await closedWith(r.s, reason, r.binary ? 'binary message' : r.bad.raw);
      }
      await steady;
      tried += round.length;
      w.tally.badInputs += round.length;
    }
    await intact();
    return { malformed_frames: tried };
  },
};

/** Opens a WebSocket by hand over TCP, to send what no well-behaved client library would. */
async function rawUpgrade(url: string): Promise<{ socket: Socket; rest: Buffer }> {
  const u = new URL(url);
  const socket = tcpConnect(Number(u.port), u.hostname);
  await once(socket, 'connect');
  socket.write(`GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  let buf = Buffer.alloc(0);
  while (!buf.includes('\r\n\r\n')) buf = Buffer.concat([buf, (await once(socket, 'data'))[0] as Buffer]);
  const end = buf.indexOf('\r\n\r\n') + 4;
  assert.match(buf.subarray(0, end).toString(), /^HTTP\/1\.1 101/);
  return { socket, rest: buf.subarray(end) };
}

/** A client frame: FIN, RSV bits, opcode, masked (or not) payload. */
function wsFrame(opcode: number, payload: Buffer, opts: { fin?: boolean; mask?: boolean; rsv?: number } = {}): Buffer {
  const { fin = true, mask = true, rsv = 0 } = opts;
  const head = [((fin ? 0x80 : 0) | (rsv << 4) | opcode) & 0xff];
  const len = payload.length;
  if (len < 126) head.push((mask ? 0x80 : 0) | len);
  else head.push((mask ? 0x80 : 0) | 126, len >> 8, len & 0xff);
  if (!mask) return Buffer.concat([Buffer.from(head), payload]);
  const key = randomBytes(4);
  const body = Buffer.from(payload.map((b, i) => b ^ key[i % 4]));
  return Buffer.concat([Buffer.from(head), key, body]);
}

/** The opcodes (and close code, if any) of the unmasked frames a server sent. */
function serverFrames(bytes: Buffer): { opcodes: number[]; closeCode?: number } {
  const opcodes: number[] = [];
  let closeCode: number | undefined;
  for (let at = 0; at + 2 <= bytes.length;) {
    const opcode = bytes[at] & 0x0f;
    let len = bytes[at + 1] & 0x7f;
    let start = at + 2;
    if (len === 126) {
      len = bytes.readUInt16BE(at + 2);
      start += 2;
    } else if (len === 127) break;
    opcodes.push(opcode);
    if (opcode === 0x8 && len >= 2) closeCode = bytes.readUInt16BE(start);
    at = start + len;
  }
  return { opcodes, closeCode };
}

export const rawWebSocket: Scenario = {
  name: 'raw-websocket-violations',
  what: 'protocol violations below JSON (unmasked frames, reserved opcodes and bits, invalid UTF-8, fragmented control frames, garbage, a frame cut short): each is refused or ignored, nothing reaches the others, nothing leaks',
  async run(w) {
    const { A, conv, bystander, intact } = await stage(w, 'raw');
    const baseline = (await w.inspect(A, conv.alias)).connections;
    const heardBefore = loggedOf(bystander).length;
    const violations: Array<{ what: string; bytes: Buffer }> = [
      { what: 'unmasked client frame', bytes: wsFrame(0x1, Buffer.from('{"type":"token","data":"unmasked"}'), { mask: false }) },
      { what: 'reserved opcode 0x3', bytes: wsFrame(0x3, Buffer.from('{"type":"token","data":"op3"}')) },
      { what: 'reserved control opcode 0xB', bytes: wsFrame(0xb, Buffer.from('x')) },
      { what: 'RSV1 without an extension', bytes: wsFrame(0x1, Buffer.from('{"type":"token","data":"rsv"}'), { rsv: 4 }) },
      { what: 'text frame of invalid UTF-8', bytes: wsFrame(0x1, Buffer.from([0x7b, 0xff, 0xfe, 0x7d])) },
      { what: 'fragmented ping', bytes: wsFrame(0x9, Buffer.from('x'), { fin: false }) },
      { what: 'continuation without a start', bytes: wsFrame(0x0, Buffer.from('{"type":"token","data":"cont"}')) },
      { what: 'close frame with a one-byte body', bytes: wsFrame(0x8, Buffer.from([0x03])) },
      { what: 'garbage bytes', bytes: randomBytes(64) },
      { what: 'a text frame cut short, then silence', bytes: wsFrame(0x1, Buffer.from('{"type":"token","data":"never finished"}')).subarray(0, 10) },
    ];
    const outcomes: Record<string, string> = {};
    for (const v of violations) {
      const { socket, rest } = await rawUpgrade(connectUrl(conv.observer_link));
      w.tally.connections += 1;
      let received = rest;
      socket.on('data', (d: Buffer) => (received = Buffer.concat([received, d])));
      socket.on('error', () => {});
      await sleep(50);
      socket.write(v.bytes);
      const ended = await Promise.race([once(socket, 'close').then(() => true), sleep(300).then(() => false)]);
      if (!ended) socket.destroy();
      const { opcodes, closeCode } = serverFrames(received);
      outcomes[v.what] = closeCode !== undefined ? `close ${closeCode}` : opcodes.includes(0xa) ? 'pong' : ended ? 'connection ended' : 'ignored';
      // Observers cannot emit: whatever got through the framing was refused, never broadcast.
      if (closeCode !== undefined) assert.ok(closeCode === 1000 || (closeCode >= 1002 && closeCode <= 1011) || closeCode === CLOSE.malformed_frame.code || closeCode === CLOSE.read_only.code, `${v.what}: close ${closeCode}`);
      w.tally.badInputs += 1;
    }
    w.log(`  outcomes: ${JSON.stringify(outcomes)}`);
    await w.connectionsReach(A, conv.alias, baseline);
    await intact();
    const extra = loggedOf(bystander).slice(heardBefore).filter((f) => !(f.type === 'token' && String((f as { data: string }).data).startsWith('beat-')));
    assert.deepEqual(extra, [], 'nothing from the violations reached the bystander');
    return { violations: violations.length, refused_with_close: Object.values(outcomes).filter((o) => o.startsWith('close')).length };
  },
};

export const flood: Scenario = {
  name: 'rate-limit-flood',
  what: 'one stream floods far past 1,000 tokens/s (burst 2,000) while another account keeps a steady pace: the flooder gets 4929 after exactly its receipted tokens, the rest flow in order',
  async run(w) {
    const { B, conv, bystander, beat, intact } = await stage(w, 'flood');
    const flooder = w.open(conv.magic_link, { credential: B.credential, receipts: true, streamName: 'flood' });
    const listener = w.open(conv.magic_link, { credential: B.credential, streamName: 'b-listens' });
    const floodJoined = await flooder.joined;
    await listener.joined;
    const total = LIMITS.emitBurst * 3;
    for (let i = 0; i < total; i++) flooder.send(`f${i}`);
    w.tally.tokensEmitted += total;
    const steady = beat(50);
    await closedWith(flooder, 'rate_limited', 'the flooder');
    await steady;
    const allowed = receiptsOf(flooder).length;
    assert.ok(allowed >= LIMITS.emitBurst && allowed < total, `allowed ${allowed} of ${total}`);
    const head = await beat(10);
    await w.until(() => listener.lastSeq >= head, 'listener at the head');
    const heard = bystander.tokens().filter((t) => t.startsWith('f'));
    assert.deepEqual(heard, Array.from({ length: allowed }, (_, i) => `f${i}`), 'exactly the receipted flood tokens, in order');
    const floodSeqs = loggedOf(bystander).filter((f) => (f as { stream_id?: string }).stream_id === floodJoined.stream_id && f.type === 'token').map((f) => f.seq);
    assert.deepEqual(floodSeqs, receiptsOf(flooder).map((r) => r.seq), 'receipts name the logged seqs');
    // B's other connection hears A's steady stream, not its own account's flood (self-exclusion holds under load).
    assert.deepEqual(listener.tokens().filter((t) => t.startsWith('f')), []);
    assert.ok(listener.tokens().filter((t) => t.startsWith('beat-')).length >= 60);
    await intact();
    listener.close();
    return { flood_sent: total, flood_allowed: allowed, rate_limited_at: allowed + 1 };
  },
};

export const connectionCap: Scenario = {
  name: 'connection-cap',
  what: `read-only listeners fill the conversation's listener budget (audience.max_listeners, held by its audience shards) and the next is refused (4913 / 503), while writers still join the conversation object; listeners are admitted again once some leave`,
  async run(w) {
    const budget = LIMITS.readerConnectionsPerConversation;
    const { A, conv, beat, intact } = await stage(w, 'cap', { audience: { max_listeners: budget } });
    const base = (await w.inspect(A, conv.alias)).connections;
    // The stage holds one listener (the bystander, on a shard) and one writer (the emitter, on the conversation object).
    const baseListeners = 1;
    const sockets: Sock[] = [];
    const tails: AbortController[] = [];
    for (let i = 0; i < 10; i++) {
      const ac = new AbortController();
      const res = await fetch(linkRoute(conv.observer_link, 'events'), { headers: { accept: 'text/event-stream' }, signal: ac.signal });
      await res.body!.getReader().read();
      tails.push(ac);
    }
    w.tally.connections += tails.length;
    while (baseListeners + tails.length + sockets.length < budget) {
      const wave = Array.from({ length: Math.min(100, budget - baseListeners - tails.length - sockets.length) }, () => w.open(conv.observer_link));
      await Promise.all(wave.map((s) => s.joined));
      sockets.push(...wave);
    }
    const full = base - baseListeners + budget;
    await w.connectionsReach(A, conv.alias, full);
    await closedWith(w.open(conv.observer_link), 'conversation_full', 'one listener over the budget');
    const sse = await fetch(linkRoute(conv.observer_link, 'events'), { headers: { accept: 'text/event-stream' } });
    assert.equal(sse.status, 503);
    assert.equal(((await sse.json()) as { error: string }).error, 'conversation_full');
    w.tally.badInputs += 2;
    // Listeners never take a writer's place: a new account's ten streams all join.
    const acct = await w.account('cap-w');
    const writers = Array.from({ length: LIMITS.streamsPerAccount }, (_, i) => w.open(conv.magic_link, { credential: acct.credential, streamName: `${acct.namespace}-${i}` }));
    await Promise.all(writers.map((s) => s.joined));
    await w.connectionsReach(A, conv.alias, full + writers.length);
    // Ten listeners leave; ten more are admitted; the next is refused again.
    for (const s of sockets.splice(0, 10)) s.close();
    await w.connectionsReach(A, conv.alias, full + writers.length - 10);
    const again = Array.from({ length: 10 }, () => w.open(conv.observer_link));
    await Promise.all(again.map((s) => s.joined));
    sockets.push(...again);
    await closedWith(w.open(conv.observer_link), 'conversation_full', 'over the budget again');
    await intact();
    for (const s of [...sockets, ...writers]) s.close();
    await w.connectionsReach(A, conv.alias, base + tails.length);
    for (const ac of tails) ac.abort();
    await w.tailsGone(A, conv.alias, base, () => beat());
    await intact();
    return { listener_budget: budget, writers_admitted_at_full_audience: writers.length, refused: 3, readmitted: 10 };
  },
};

export const streamRegistry: Scenario = {
  name: 'abuse-registry',
  what: `one account rotating stream names over POST …/tokens registers at most ${LIMITS.streamsRegisteredPerAccount} streams (then 429 concurrency_limit) and gets no more than its account's emit budget across them; another account still registers and emits`,
  async run(w) {
    const { A, B, conv, intact } = await stage(w, 'registry');
    const post = (credential: string, streamName: string, tokens: string[]) => fetch(linkRoute(conv.magic_link, 'tokens', { stream_name: streamName }), {
      method: 'POST', headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' }, body: JSON.stringify(tokens),
    });
    const statuses: number[] = [];
    for (let i = 0; i < 3 * LIMITS.streamsRegisteredPerAccount; i++) {
      const res = await post(B.credential, `rot-${i}`, [`r${i}`]);
      statuses.push(res.status);
      if (res.status !== 200) assert.equal(((await res.json()) as { error: string }).error, 'concurrency_limit', `rot-${i}`);
      else await res.body?.cancel();
    }
    w.tally.badInputs += statuses.filter((st) => st !== 200).length;
    assert.deepEqual(statuses.slice(0, LIMITS.streamsRegisteredPerAccount), new Array(LIMITS.streamsRegisteredPerAccount).fill(200), 'the first ten register');
    assert.ok(statuses.slice(LIMITS.streamsRegisteredPerAccount).every((st) => st === 429), `then refused: ${statuses}`);
    const streams = (await w.inspect(A, conv.alias)).streams as unknown as Array<{ owner_account_id: string }>;
    assert.equal(streams.filter((st) => st.owner_account_id === B.account_id).length, LIMITS.streamsRegisteredPerAccount);
    // Another account is never refused because of B.
    const C = await w.account('registry-c');
    const cRes = await post(C.credential, 'c-own', ['from c']);
    assert.equal(cRes.status, 200);
    await cRes.body?.cancel();
    // B's ten streams share one account budget: full batches on all of them take at most burst + refill over
    // the time they took (bounded by the elapsed time measured, never by an assumed speed: on a slow machine
    // the refill alone may cover every batch, and that is no breach).
    const started = Date.now();
    let accepted = 0;
    for (let i = 0; i < LIMITS.streamsRegisteredPerAccount; i++) {
      const res = await post(B.credential, `rot-${i}`, Array.from({ length: LIMITS.tokensPerBatch }, (_, k) => `b${i}-${k}`));
      if (res.status === 200) accepted += LIMITS.tokensPerBatch;
      else assert.equal(((await res.json()) as { error: string }).error, 'rate_limited');
      if (res.status === 200) await res.body?.cancel();
    }
    const elapsed = (Date.now() - started) / 1000;
    w.tally.tokensEmitted += accepted;
    assert.ok(accepted <= LIMITS.emitBurstPerAccount + LIMITS.emitRatePerAccountPerSecond * elapsed + LIMITS.tokensPerBatch, `accepted ${accepted} in ${elapsed.toFixed(2)} s`);
    await intact();
    return { registered: LIMITS.streamsRegisteredPerAccount, refused: statuses.filter((st) => st !== 200).length, batch_tokens_accepted: accepted };
  },
};
