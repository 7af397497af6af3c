/**
 * What a model in real Claude Code actually receives from AMS. Starts the
 * broker, mints a conversation, registers its magic link with Claude Code
 * (scratch HOME), points Claude Code at the stand-in model, and drives one
 * turn: `ams_join`, then `ams_recv` waiting while a WebSocket peer streams a
 * 60-token sentence, then `ams_recv` in a loop until the sentence is in. Prints
 * the bytes of every tool result the model was shown against the bytes of the
 * peer's text.
 *
 *   npx tsx test/e2e/claude-code-probe.ts            # uses CLAUDE_BIN, else the pinned test/claude-code (installed on first use)
 *   CLAUDE_BIN=/path/to/claude npx tsx test/e2e/claude-code-probe.ts --json
 *
 * When Claude Code cannot be installed it says so and exits 0.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import WebSocket from 'ws';
import { AmsClient, AmsSocket, type WebSocketConstructor } from '../../src/client';
import { startBroker } from '../support/broker';
import { exchangesOf, startStandInModel, type ToolExchange } from '../support/stand-in-model';

const MAX_RECV_CALLS = 40;
/** The conversation's instructions: the model must receive them (under `# MCP Server Instructions`, and in ams_join's result). */
export const PURPOSE = 'Probe purpose: count the words alice says.\nReply with the count only.';
export const SENTENCE = Array.from({ length: 60 }, (_, i) => (i === 0 ? 'The' : i === 59 ? ' end.' : ` w${i}`));

/** Where the pinned Claude Code is installed (test/claude-code, `npm ci` on first use). */
const PINNED_DIR = resolve(import.meta.dirname, '../claude-code');
const PINNED_BIN = join(PINNED_DIR, 'node_modules/.bin/claude');
/** The version pinned there (what its participant's identity must name). */
export const CLAUDE_CODE_VERSION = (JSON.parse(readFileSync(join(PINNED_DIR, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> }).devDependencies['@anthropic-ai/claude-code']!;

/** The Claude Code binary to drive, or null: CLAUDE_BIN, else the pinned one in test/claude-code if installed. */
function findClaude(): string | null {
  const candidates = [process.env.CLAUDE_BIN, PINNED_BIN].filter((c): c is string => !!c);
  for (const c of candidates) {
    const r = spawnSync(c, ['--version'], { encoding: 'utf8', timeout: 30_000 });
    if (r.status === 0 && r.stdout.includes('Claude Code')) return c;
  }
  return null;
}

/** The binary to drive, installing the pinned Claude Code first when there is none (a fresh clone, CI); null when that fails (no registry). */
export function installedClaude(): string | null {
  const found = findClaude();
  if (found || existsSync(PINNED_BIN)) return found;
  const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: PINNED_DIR, stdio: 'inherit', timeout: 300_000 });
  return r.status === 0 ? findClaude() : null;
}

function run(bin: string, args: string[], env: NodeJS.ProcessEnv, cwd: string, timeoutMs: number): Promise<{ code: number | null; out: string }> {
  return new Promise((res) => {
    const child = spawn(bin, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      res({ code, out });
    });
  });
}

export interface ProbeResult {
  claude: string;
  text_bytes: number;
  tokens: number;
  exchanges: ToolExchange[];
  system_bytes: number;
  tools_offered: string[];
  /** Everything the model was given on its last main request: the system prompt and the messages, as JSON text. */
  context: string;
}

export async function probe(claude: string, opts: { log?: (s: string) => void } = {}): Promise<ProbeResult> {
  const log = opts.log ?? (() => {});
  const broker = await startBroker();
  const home = mkdtempSync(join(tmpdir(), 'ams-cc-home-'));
  let peer: AmsSocket | undefined;
  // join; one long ams_recv (what the model sees first); then ams_recv in a loop, as instructed, until the sentence is all in.
  const model = await startStandInModel((body, main) => {
    if (!main) return { text: 'AMS probe' };
    const done = exchangesOf(body);
    // No stream_name: the broker names the participant after the client's clientInfo.
    if (done.length === 0) return { tool: 'mcp__ams__ams_join', input: {} };
    if (done.length === 1) return { tool: 'mcp__ams__ams_recv', input: { wait_ms: 20_000 } };
    const heard = done.slice(1).map((x) => x.text).join('');
    if (heard.includes(SENTENCE.at(-1)!.trim()) || done.length > MAX_RECV_CALLS) return { text: 'Done.' };
    return { tool: 'mcp__ams__ams_recv', input: { wait_ms: 5_000 } };
  });
  try {
    const api = new AmsClient(broker.url);
    const owner = await api.createAccount(`cc-probe-${Date.now().toString(36)}`);
    const conv = await api.createConversation(owner, { alias: `probe-${Date.now().toString(36)}`, instructions: PURPOSE });
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH, HOME: home, ANTHROPIC_BASE_URL: model.url, ANTHROPIC_API_KEY: 'stand-in', ENABLE_TOOL_SEARCH: 'false',
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1', DISABLE_AUTOUPDATER: '1', DISABLE_TELEMETRY: '1', NO_COLOR: '1',
    };
    const add = await run(claude, ['mcp', 'add', '--scope', 'user', '--transport', 'http', 'ams', conv.magic_link], env, home, 60_000);
    if (add.code !== 0) throw new Error(`claude mcp add failed:\n${add.out}`);
    log(`mcp add: ${add.out.trim()}`);

    peer = AmsSocket.open(conv.magic_link, { credential: owner.credential, streamName: 'alice', WebSocket: WebSocket as unknown as WebSocketConstructor });
    await peer.next((f) => f.type === 'joined');
    // The peer starts speaking once the model has asked for ams_recv (the request that carries ams_join's result).
    let spoke = false;
    const speak = setInterval(() => {
      if (spoke || model.mainRequests().length < 2) return;
      spoke = true;
      void (async () => {
        await new Promise((r) => setTimeout(r, 1_500));
        for (const t of SENTENCE) {
          peer!.send(t);
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
    }, 50);
    const turn = await run(claude, ['-p', 'Join the AMS conversation and listen.', '--allowedTools', 'mcp__ams__ams_join,mcp__ams__ams_recv', '--output-format', 'text'], env, home, 120_000);
    clearInterval(speak);
    log(`claude exited ${turn.code}: ${turn.out.trim().slice(0, 300)}`);
    const last = model.mainRequests().at(-1);
    if (!last) throw new Error(`Claude Code never asked the model with tools; its output:\n${turn.out}`);
    return {
      claude,
      text_bytes: Buffer.byteLength(SENTENCE.join('')),
      tokens: SENTENCE.length,
      exchanges: model.exchanges(),
      system_bytes: Buffer.byteLength(JSON.stringify(last.body.system ?? '')),
      tools_offered: (last.body.tools ?? []).map((t: { name: string }) => t.name).filter((n: string) => n.startsWith('mcp__')),
      context: JSON.stringify({ system: last.body.system ?? '', messages: last.body.messages ?? [] }),
    };
  } finally {
    await peer?.close().catch(() => {});
    await model.close();
    await broker.stop();
    rmSync(home, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const claude = installedClaude();
  if (!claude) {
    console.log(`SKIPPED: Claude Code ${CLAUDE_CODE_VERSION} could not be installed in test/claude-code, and CLAUDE_BIN is not set.`);
    process.exit(0);
  }
  const json = process.argv.includes('--json');
  const result = await probe(claude, { log: json ? undefined : (s) => console.log(s) });
  if (json) console.log(JSON.stringify(result, null, 2));
  else {
    console.log(`peer text: ${result.tokens} tokens, ${result.text_bytes} bytes: ${JSON.stringify(SENTENCE.join(''))}`);
    console.log(`tools offered: ${result.tools_offered.join(', ')}; system prompt ${result.system_bytes} bytes`);
    const recvs = result.exchanges.filter((x) => x.name.endsWith('ams_recv'));
    const total = recvs.reduce((n, x) => n + x.bytes, 0);
    console.log(`first ams_recv: ${recvs[0]?.bytes ?? 0} bytes; all ${recvs.length} ams_recv: ${total} bytes = ${(total / result.text_bytes).toFixed(1)}x the text`);
    for (const x of result.exchanges) {
      console.log(`\n${x.name} ${JSON.stringify(x.input)} -> ${x.bytes} bytes${x.is_error ? ' (error)' : ''}`);
      console.log(x.text.length > 1200 ? `${x.text.slice(0, 1200)}… (${x.text.length} chars)` : x.text);
    }
  }
}
