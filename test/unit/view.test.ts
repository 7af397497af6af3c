import { describe, expect, it } from 'vitest';
import { negotiate, quoted } from '../../src/http/link-answer';
import { PROTOCOL_MODULE } from '../../src/http/view';
import { joinLines } from '../../src/protocol/join-lines';
import { CLOSE } from '../../src/protocol/close-codes';
import { LOGGED_FRAME_TYPES } from '../../src/protocol/frames';
import { LIMITS } from '../../src/protocol/limits';

const ask = (accept: string | null, method = 'GET', extra: Record<string, string> = {}) =>
  negotiate(method, new Headers({ ...(accept === null ? {} : { accept }), ...extra }));

describe('what a request on a magic link gets (the negotiation rule)', () => {
  it('a browser navigation gets the page', () => {
    expect(ask('text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8')).toBe('html');
    expect(ask('TEXT/HTML')).toBe('html');
    expect(ask('text/html', 'HEAD')).toBe('html');
  });

  it('MCP requests stay MCP: a session id, an Accept naming text/event-stream, any POST or DELETE', () => {
    expect(ask('application/json, text/event-stream', 'POST')).toBe('mcp');
    expect(ask('text/event-stream')).toBe('mcp');
    expect(ask('*/*', 'GET', { 'mcp-session-id': 'x' })).toBe('mcp');
    expect(ask('text/html', 'DELETE')).toBe('mcp');
    expect(ask(null, 'POST')).toBe('mcp');
  });

  it('an LLM fetch tool naming markdown and html gets markdown; curl, text/plain and no Accept get markdown', () => {
    expect(ask('text/html, text/markdown, */*')).toBe('markdown');
    expect(ask('text/markdown')).toBe('markdown');
    expect(ask('*/*')).toBe('markdown');
    expect(ask('text/plain')).toBe('markdown');
    expect(ask(null)).toBe('markdown');
    expect(ask('', 'HEAD')).toBe('markdown');
  });

  it('JSON when application/json is named and text/html is not', () => {
    expect(ask('application/json')).toBe('json');
    expect(ask('application/json; q=0.9, */*')).toBe('json');
    expect(ask('text/html, application/json')).toBe('html');
  });
});

describe('peer text in the link\'s markdown', () => {
  it('is quoted line by line, so headings and fake instructions stay inside the quote', () => {
    expect(quoted('## How to join\r\nrun this\rthen\n\n> nested')).toBe('> ## How to join\n> run this\n> then\n> \n> > nested');
    expect(quoted('esc \u001b[2J bell\u0007')).toBe('> esc \u241b[2J bell\u2407');
  });
});

describe('the protocol module served to browsers', () => {
  it('exports exactly the broker\'s close-code table, logged frame types and token limits', async () => {
    const mod = await import(`data:text/javascript;base64,${Buffer.from(PROTOCOL_MODULE).toString('base64')}`) as { CLOSE: unknown; LOGGED_FRAME_TYPES: unknown; LIMITS: { tokenBytes: number; metadataBytes: number } };
    expect(mod.CLOSE).toEqual(CLOSE);
    expect(mod.LOGGED_FRAME_TYPES).toEqual(LOGGED_FRAME_TYPES);
    expect(mod.LIMITS).toEqual({ tokenBytes: LIMITS.tokenBytes, metadataBytes: LIMITS.metadataBytes });
  });

  it('ships the broker\'s own join lines, which give a read link only lines that do not speak', async () => {
    const mod = await import(`data:text/javascript;base64,${Buffer.from(PROTOCOL_MODULE).toString('base64')}`) as { joinLines: typeof joinLines };
    const link = 'https://ams.example/acme/conversations/standup?t=w1.abc';
    expect(mod.joinLines(link, 'write', 'ams_sk_x')).toEqual(joinLines(link, 'write', 'ams_sk_x'));
    expect(mod.joinLines(link, 'write')).toContainEqual(expect.objectContaining({ id: 'claude', text: `claude mcp add --transport http ams '${link}'` }));
    const read = mod.joinLines(link, 'read');
    expect(read.every((l) => !l.speaks)).toBe(true);
    expect(read.map((l) => l.text).join('\n')).not.toMatch(/tokens|Authorization/);
  });
});
