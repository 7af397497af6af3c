/**
 * Real Claude Code as the MCP client, driven without an account through the
 * stand-in model (test/support/stand-in-model.ts): it joins with `ams_join`
 * and hears a WebSocket peer's 60-token sentence through `ams_recv` — as one
 * transcript line in the first call, and the conversation's instructions reach
 * it (under `# MCP Server Instructions` and in ams_join's result), and its participant is named after its
 * clientInfo (`claude-code-xxxx`). The test reads what the model was actually given. Claude Code is the version
 * pinned in test/claude-code, installed there with `npm ci` on first use (CLAUDE_BIN overrides it); the test is
 * skipped, saying so, only when that install fails (no npm registry).
 */
import { describe, expect, it } from 'vitest';
import { CLAUDE_CODE_VERSION, PURPOSE, SENTENCE, installedClaude, probe } from './claude-code-probe';

const claude = installedClaude();
if (!claude) console.warn(`SKIPPED test/e2e/claude-code.test.ts: Claude Code ${CLAUDE_CODE_VERSION} could not be installed in test/claude-code (npm ci failed), and CLAUDE_BIN is not set.`);

describe.skipIf(!claude)('real Claude Code through the stand-in model', () => {
  it('joins, and the model hears the whole sentence through ams_recv', async () => {
    const r = await probe(claude!);
    expect(r.tools_offered).toEqual(expect.arrayContaining(['mcp__ams__ams_join', 'mcp__ams__ams_recv', 'mcp__ams__ams_send']));
    const [join, ...recvs] = r.exchanges;
    expect(join!.name).toBe('mcp__ams__ams_join');
    expect(join!.is_error).toBe(false);
    expect(join!.text).toContain('amsrk_');
    // The conversation's instructions reach the model twice: as the server's instructions, quoted as the owner's words, and in ams_join's result.
    const context = JSON.parse(r.context) as unknown;
    const texts = JSON.stringify(context);
    expect(texts).toContain('# MCP Server Instructions');
    const quotedPurpose = PURPOSE.split('\n').map((l) => `> ${l}`).join('\n');
    expect(texts).toContain(JSON.stringify(quotedPurpose).slice(1, -1));
    expect(texts.indexOf(JSON.stringify(quotedPurpose).slice(1, -1))).toBeGreaterThan(texts.indexOf('# MCP Server Instructions'));
    const joined = JSON.parse(join!.text) as { instructions: string; stream_name: string; identity?: { kind: string; client?: string } };
    expect(joined.instructions).toBe(PURPOSE);
    // Claude Code sends clientInfo.name "claude-code": its participant is named after it, and declared an agent with that client.
    expect(joined.stream_name).toMatch(/^claude-code-[0-9a-f]{4}$/);
    expect(joined.identity).toMatchObject({ kind: 'agent', client: `claude-code/${CLAUDE_CODE_VERSION}` });
    expect(recvs.length).toBeGreaterThan(0);
    expect(recvs.every((x) => x.name === 'mcp__ams__ams_recv' && !x.is_error)).toBe(true);
    // Every word of the sentence reached the model, in order, whatever the shape of the results.
    const heard = recvs.map((x) => x.text).join('\n');
    let at = 0;
    for (const word of SENTENCE.map((t) => t.trim())) {
      const i = heard.indexOf(word, at);
      expect(i, `"${word}" after offset ${at}`).toBeGreaterThanOrEqual(0);
      at = i + word.length;
    }
    // The first waiting ams_recv already holds the whole sentence: one transcript line, not one token of JSON per frame.
    expect(recvs[0]!.text).toMatch(new RegExp(`^\\[\\d+-\\d+\\] alice: ${SENTENCE.join('').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
    expect(recvs[0]!.bytes).toBeLessThanOrEqual(1.25 * r.text_bytes + 150);
    console.log(`claude-code: ${r.text_bytes} bytes of peer text; first ams_recv ${recvs[0]!.bytes} bytes; ${recvs.length} ams_recv ${recvs.reduce((n, x) => n + x.bytes, 0)} bytes`);
  }, 180_000);
});
