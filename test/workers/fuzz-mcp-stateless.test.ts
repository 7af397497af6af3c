/**
 * Fuzzing the MCP 2026-07-28 leg through the real Worker: envelopes, headers
 * and tool arguments of every shape. Every answer is a JSON-RPC response with
 * the request's id — a result (tool failures as documented `isError` codes,
 * never `internal_error`) or a 4xx error of the revision — never a 500, and a
 * stateless call never acts as anyone but the identity its resume_key names.
 */
import fc from 'fast-check';
import { SELF } from 'cloudflare:test';
import { beforeAll, expect, it } from 'vitest';
import { CLOSE } from '../../src/protocol/close-codes';
import { ERRORS } from '../../src/protocol/errors';
import { SEED, hostileText } from '../fuzz/arbitraries';
import { createAccount, mint, type TestAccount, type TestConversation } from '../fuzz/workerd';

const TOOL_ERRORS = new Set<string>([...Object.keys(ERRORS), ...Object.keys(CLOSE)]);
const REVISION_ERRORS = new Set([-32600, -32601, -32602, -32700, -32020, -32021, -32022]);
const TOOLS = ['ams_create_conversation', 'ams_join', 'ams_send', 'ams_recv', 'ams_set_metadata', 'ams_leave', 'ams_peers'];

let A: TestAccount;
let conv: TestConversation;

beforeAll(async () => {
  A = await createAccount('fzs-a');
  conv = await mint(A);
});

const META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientCapabilities': {},
  'io.modelcontextprotocol/clientInfo': { name: 'fuzz', version: '1' },
};

async function post(url: string, body: unknown, headers: Record<string, string>): Promise<Response> {
  return SELF.fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: JSON.stringify(body),
  });
}

/** A header value as the revision sends it: plain when printable ASCII, else `=?base64?…?=` of its UTF-8. */
const headerValue = (v: string) => (/^[\x20-\x7e]*$/.test(v) ? v : `=?base64?${btoa(String.fromCharCode(...new TextEncoder().encode(v)))}?=`);

const anything = fc.oneof(fc.jsonValue({ maxDepth: 2 }), hostileText, fc.constant(undefined));
const metaArb = fc.oneof(
  { weight: 3, arbitrary: fc.constant(META as Record<string, unknown>) },
  { weight: 2, arbitrary: fc.record({
    'io.modelcontextprotocol/protocolVersion': fc.oneof(fc.constant('2026-07-28'), fc.constant('2025-11-25'), hostileText, anything),
    'io.modelcontextprotocol/clientCapabilities': fc.oneof(fc.constant({}), anything),
  }, { requiredKeys: [] }) },
  { weight: 1, arbitrary: anything },
);

it('every envelope, header and argument shape gets the revision\'s error or a documented tool result, with its id', async () => {
  let tools = 0;
  await fc.assert(
    fc.asyncProperty(
      metaArb,
      fc.oneof({ weight: 4, arbitrary: fc.constant('tools/call') }, { weight: 2, arbitrary: fc.constantFrom('tools/list', 'server/discover', 'initialize', 'ping', 'resources/list') }, { weight: 1, arbitrary: hostileText }),
      fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...TOOLS) }, { weight: 1, arbitrary: hostileText }),
      fc.dictionary(fc.constantFrom('magic_link', 'resume_key', 'data', 'since', 'wait_ms', 'metadata', 'stream_name'), anything),
      fc.oneof({ weight: 3, arbitrary: fc.constant({ method: true, name: true, version: true }) }, { weight: 1, arbitrary: fc.record({ method: fc.boolean(), name: fc.boolean(), version: fc.boolean() }) }),
      async (meta, method, name, args, agree) => {
        if ('wait_ms' in args) args.wait_ms = 0;
        const params = { _meta: meta, name, arguments: args };
        const res = await post(conv.magic_link, { jsonrpc: '2.0', id: 'fz-1', method, params }, {
          'mcp-protocol-version': agree.version ? '2026-07-28' : '2099-01-01',
          'mcp-method': headerValue(agree.method ? method : 'tools/list'),
          ...(method === 'tools/call' ? { 'mcp-name': headerValue(agree.name ? name : 'other') } : {}),
        });
        expect(res.status).not.toBe(500);
        const text = await res.text();
        if (res.status === 202) return;
        const body = JSON.parse(text) as { id?: unknown; result?: { isError?: boolean; structuredContent?: { error?: string } }; error?: { code: number } };
        if (body.error) {
          // A legacy-routed request (no envelope claim) is a session's: the 2025 answers keep their codes.
          expect([...REVISION_ERRORS, -32000, -32001], JSON.stringify(body)).toContain(body.error.code);
          return;
        }
        expect(body.id).toBe('fz-1');
        tools += method === 'tools/call' && body.result ? 1 : 0;
        if (body.result?.isError) {
          const code = body.result.structuredContent?.error ?? '';
          expect(TOOL_ERRORS.has(code), code).toBe(true);
          expect(code).not.toBe('internal_error');
        }
      },
    ),
    { seed: SEED, numRuns: 120 },
  );
  // The property reached the tools, not only the envelope checks.
  expect(tools).toBeGreaterThan(20);
});

it('a stateless call acts only as the identity its resume_key names', async () => {
  const call = async (name: string, args: Record<string, unknown>) => {
    const res = await post(conv.magic_link, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { _meta: META, name, arguments: args } }, {
      'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': name,
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { result: { structuredContent: Record<string, any> } }).result.structuredContent;
  };
  const joins = await Promise.all(Array.from({ length: 4 }, () => call('ams_join', {})));
  expect(new Set(joins.map((j) => j.account_id)).size).toBe(4);
  expect(new Set(joins.map((j) => j.stream_id)).size).toBe(4);
  const sent = await Promise.all(joins.map((j, i) => call('ams_send', { data: `from ${i}`, resume_key: j.resume_key })));
  const reader = await call('ams_join', { since: 0 });
  const got = await call('ams_recv', { resume_key: reader.resume_key, max: 100, format: 'frames' });
  const bySeq = new Map(got.frames.filter((f: any) => f.type === 'token').map((f: any) => [f.seq, f]));
  joins.forEach((j, i) => expect(bySeq.get(sent[i]!.seq)).toMatchObject({ stream_id: j.stream_id, data: `from ${i}` }));
});
