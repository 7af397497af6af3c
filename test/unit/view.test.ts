import { describe, expect, it } from 'vitest';
import { PROTOCOL_MODULE, wantsHtml } from '../../src/http/view';
import { CLOSE } from '../../src/protocol/close-codes';
import { LOGGED_FRAME_TYPES } from '../../src/protocol/frames';
import { LIMITS } from '../../src/protocol/limits';

describe('which requests on a magic link get the page', () => {
  it('a browser navigation gets the page', () => {
    expect(wantsHtml('text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8')).toBe(true);
    expect(wantsHtml('TEXT/HTML')).toBe(true);
  });

  it('MCP clients, curl and API callers never get the page', () => {
    expect(wantsHtml('application/json, text/event-stream')).toBe(false);
    expect(wantsHtml('text/event-stream')).toBe(false);
    expect(wantsHtml('*/*')).toBe(false);
    expect(wantsHtml('application/json')).toBe(false);
    expect(wantsHtml('')).toBe(false);
    expect(wantsHtml(undefined)).toBe(false);
  });
});

describe('the protocol module served to browsers', () => {
  it('exports exactly the broker\'s close-code table, logged frame types and token limits', async () => {
    const mod = await import(`data:text/javascript;base64,${Buffer.from(PROTOCOL_MODULE).toString('base64')}`) as { CLOSE: unknown; LOGGED_FRAME_TYPES: unknown; LIMITS: { tokenBytes: number; metadataBytes: number } };
    expect(mod.CLOSE).toEqual(CLOSE);
    expect(mod.LOGGED_FRAME_TYPES).toEqual(LOGGED_FRAME_TYPES);
    expect(mod.LIMITS).toEqual({ tokenBytes: LIMITS.tokenBytes, metadataBytes: LIMITS.metadataBytes });
  });
});
