/**
 * The demo page and the link view in headless Chromium, against a real
 * `wrangler dev`: minting, lanes, sending, observing, and rendering peer
 * data as text.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenFrame } from '../../src/client';
import {
  HAS_CHROMIUM, RESULTS_DIR, SKIP_NOTICE, agentFromWscatLine, launchChromium, laneTokens, mintOnPage, speak,
  waitForTokens, watchErrors,
} from './support';
import { sharedBroker } from '../e2e/support';

const { broker } = sharedBroker();

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The raw frames a page's wire pane shows, parsed (WebSocket lines are JSON, SSE lines end in `data: …`). */
async function wireFrames(page: Page): Promise<{ raw: string; frame: Record<string, unknown> }[]> {
  const texts = await page.locator('[data-testid=wire-log] .entry.in code').allTextContents();
  return texts.map((text) => {
    const raw = text.includes('\ndata: ') ? text.slice(text.indexOf('\ndata: ') + 7) : text;
    return { raw, frame: JSON.parse(raw) as Record<string, unknown> };
  });
}

async function sendFromPage(page: Page, text: string): Promise<void> {
  await page.getByTestId('send-input').fill(text);
  await page.getByTestId('send-input').press('Enter');
}

describe('the page routes', () => {
  it('a magic link answers a browser with the live view and anything else with the API', async () => {
    const account = await (await fetch(`${broker.url}/v1/accounts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ namespace: 'routes-check' }) })).json() as { credential: string };
    const minted = await (await fetch(`${broker.url}/v1/routes-check/conversations`, { method: 'POST', headers: { authorization: `Bearer ${account.credential}`, 'content-type': 'application/json' }, body: '{}' })).json() as { magic_link: string };

    const page = await fetch(minted.magic_link, { headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(await page.text()).toContain('/app/view.js');

    const agent = await fetch(minted.magic_link, { headers: { accept: 'application/json' } });
    expect(agent.headers.get('content-type') ?? '').not.toMatch(/text\/html/);
    await agent.body?.cancel();

    const home = await fetch(`${broker.url}/`, { headers: { accept: 'text/html' } });
    expect(home.status).toBe(200);
    expect(await home.text()).toContain('/app/demo.js');
  });
});

describe.skipIf(!HAS_CHROMIUM)(HAS_CHROMIUM ? 'the demo page in Chromium' : SKIP_NOTICE, () => {
  let browser: Browser;
  beforeAll(async () => { browser = await launchChromium(); });
  afterAll(async () => { await browser?.close(); });

  it('a visitor mints a conversation in one click and is shown its links and the exact commands for agents', async () => {
    const context = await browser.newContext();
    const { page, magicLink, observerLink, errors } = await mintOnPage(context, broker.url);
    const url = new URL(magicLink);
    expect(url.origin).toBe(broker.url);
    expect(url.pathname).toMatch(/^\/demo-[a-z0-9]+\/conversations\/[a-z0-9-]+$/);
    expect(url.searchParams.get('t')).toBeTruthy();
    expect(new URL(observerLink).pathname).toBe(url.pathname);
    expect(observerLink).not.toBe(magicLink);

    expect(await page.getByTestId('cmd-claude').textContent()).toBe(`claude mcp add --transport http ams '${magicLink}'`);
    const connect = `ws://${url.host}${url.pathname}/connect${url.search}`;
    expect(await page.getByTestId('cmd-wscat').textContent())
      .toMatch(new RegExp(`^wscat -c '${escapeRe(connect)}' -H 'Authorization: Bearer ams_sk_agent-[a-z0-9]+\\.[A-Za-z0-9_-]{43}'$`));
    expect(await page.getByTestId('cmd-curl').textContent()).toBe(`curl -N '${url.origin}${url.pathname}/events${url.search}'`);

    // The conversation is real, and the page holds its minter stream.
    const info = await (await fetch(`${broker.url}/v1${url.pathname}${url.search}`)).json() as { streams: { stream_name: string; connected: boolean }[] };
    expect(info.streams).toContainEqual(expect.objectContaining({ stream_name: 'browser', connected: true }));
    expect(errors).toEqual([]);
    await context.close();
  });

  it('an agent joining with the shown wscat line streams into its own lane in order, and hears what the page sends', async () => {
    const context = await browser.newContext();
    const { page, errors } = await mintOnPage(context, broker.url);
    const metadata = { model: 'test-model', role: 'writer' };
    const agent = await agentFromWscatLine(page, { streamName: 'agent', metadata });
    await agent.joined;

    const words = Array.from({ length: 60 }, (_, i) => `w${i} `);
    await speak(agent, words);
    await waitForTokens(page, 'agent', words.length);
    const shown = await laneTokens(page, 'agent');
    expect(shown.map((t) => t.data)).toEqual(words);
    const seqs = shown.map((t) => Number(t.seq));
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBeGreaterThan(seqs[i - 1]);
    expect(await page.locator('.lane[data-stream-name="agent"] .lane-meta').textContent()).toBe(JSON.stringify(metadata));
    expect(await page.locator('.lane[data-stream-name="agent"]').getAttribute('data-state')).toBe('live');

    // The raw pane shows the same tokens as the frames that carried them.
    const onWire = (await wireFrames(page)).map((w) => w.frame).filter((f) => f.type === 'token' && f.stream_name === 'agent');
    expect(onWire.map((f) => f.data)).toEqual(words);
    expect(onWire.map((f) => f.seq)).toEqual(seqs);

    const from = agent.frames.length;
    await sendFromPage(page, 'hello, agent');
    await page.getByTestId('send-input').fill('second');
    await page.getByTestId('send-button').click();
    const first = await agent.next<TokenFrame>((f) => f.type === 'token' && f.data === 'hello, agent', 30_000, from);
    const second = await agent.next<TokenFrame>((f) => f.type === 'token' && f.data === 'second', 30_000, from);
    expect(first.stream_name).toBe('browser');
    expect(second.seq).toBeGreaterThan(first.seq);
    // The page's own lane shows what it sent, confirmed with the seqs the broker gave.
    await page.waitForFunction(() => document.querySelectorAll('.lane[data-own="true"] .tok.pending').length === 0);
    expect(await laneTokens(page, 'browser')).toEqual([{ data: 'hello, agent', seq: String(first.seq) }, { data: 'second', seq: String(second.seq) }]);
    expect(agent.tokens()).toEqual(['hello, agent', 'second']);

    // A metadata change replaces what the lane shows, and is marked where it happened.
    agent.setMetadata({ model: 'test-model', status: 'thinking' });
    await page.locator('.lane[data-stream-name="agent"] .lane-meta').filter({ hasText: JSON.stringify({ model: 'test-model', status: 'thinking' }) }).waitFor();
    expect(await page.locator('.lane[data-stream-name="agent"] .mark').allTextContents()).toEqual(['joined', 'metadata changed']);

    await agent.close();
    await page.locator('.lane[data-stream-name="agent"][data-state="left"]').waitFor();
    expect(errors).toEqual([]);
    await context.close();
  });

  it('a second browser opening the observer link sees the same frames, from history and live, and cannot speak', async () => {
    const context = await browser.newContext();
    const { page, observerLink } = await mintOnPage(context, broker.url);
    const agent = await agentFromWscatLine(page, { streamName: 'agent' });
    await agent.joined;
    await speak(agent, ['before ', 'the ', 'observer ']);
    await waitForTokens(page, 'agent', 3);

    const other = await browser.newContext();
    const watcher = await other.newPage();
    const errors = watchErrors(watcher);
    await watcher.goto(observerLink);
    await watcher.locator('[data-testid=status][data-state=live]').waitFor();
    await waitForTokens(watcher, 'agent', 3);
    await speak(agent, ['arrived ', 'while ', 'watched']);
    await sendFromPage(page, 'from the page');
    await waitForTokens(watcher, 'agent', 6);
    await waitForTokens(watcher, 'browser', 1);
    await waitForTokens(page, 'agent', 6);
    await page.waitForFunction(() => document.querySelectorAll('.lane[data-own="true"] .tok.pending').length === 0);

    expect(await laneTokens(watcher, 'agent')).toEqual(await laneTokens(page, 'agent'));
    expect(await laneTokens(watcher, 'browser')).toEqual(await laneTokens(page, 'browser'));
    // Byte for byte: the broker serializes a frame once, whichever transport carries it.
    const agentRaw = async (p: Page) => (await wireFrames(p)).filter((w) => w.frame.type === 'token' && w.frame.stream_name === 'agent').map((w) => w.raw);
    expect(await agentRaw(watcher)).toEqual(await agentRaw(page));

    expect(await watcher.getByTestId('send-input').isDisabled()).toBe(true);
    expect(await watcher.getByTestId('address').textContent()).toBe(`${new URL(observerLink).pathname.split('/')[1]} / ${new URL(observerLink).pathname.split('/')[3]}`);
    // Trying to join with an observer link leaves the visitor watching, and says why.
    await watcher.getByTestId('join').click();
    await watcher.getByTestId('notice').filter({ hasText: 'observer link' }).waitFor();
    expect(await watcher.getByTestId('send-input').isDisabled()).toBe(true);
    expect(errors).toEqual([]);
    await agent.close();
    await other.close();
    await context.close();
  });

  it('a magic link opened in a browser watches read-only until the visitor joins, then speaks on a stream of its own', async () => {
    const context = await browser.newContext();
    const { page, magicLink } = await mintOnPage(context, broker.url);
    const agent = await agentFromWscatLine(page, { streamName: 'agent' });
    await agent.joined;
    await speak(agent, ['said ', 'before ']);

    const elsewhere = await browser.newContext();
    const visitor = await elsewhere.newPage();
    const errors = watchErrors(visitor);
    await visitor.goto(magicLink);
    await visitor.locator('[data-testid=status][data-state=live]').waitFor();
    await waitForTokens(visitor, 'agent', 2);
    expect(await visitor.getByTestId('send-input').isDisabled()).toBe(true);
    expect(await visitor.getByTestId('wire-pane').textContent()).toContain('Server-Sent Events');
    expect(await visitor.locator('.lane[data-own="true"]').count()).toBe(0);

    await visitor.getByTestId('join').click();
    const own = visitor.locator('.lane[data-own="true"]');
    await own.waitFor();
    const name = (await own.getAttribute('data-stream-name')) ?? '';
    expect(name).toMatch(/^visitor-/);
    await visitor.getByTestId('join-note').filter({ hasText: `You speak as ${name}` }).waitFor();
    await visitor.waitForFunction(() => !(document.querySelector('[data-testid=send-input]') as HTMLInputElement).disabled);
    expect(await visitor.getByTestId('wire-pane').textContent()).toContain('WebSocket /connect');

    // Moving from the watch to the socket neither repeats nor skips a frame.
    await speak(agent, ['said ', 'after']);
    await waitForTokens(visitor, 'agent', 4);
    const shown = await laneTokens(visitor, 'agent');
    expect(shown.map((t) => t.data)).toEqual(['said ', 'before ', 'said ', 'after']);
    expect(new Set(shown.map((t) => t.seq)).size).toBe(4);

    const from = agent.frames.length;
    await visitor.getByTestId('send-input').fill('hi from a visitor');
    await visitor.getByTestId('send-input').press('Enter');
    const heard = await agent.next<TokenFrame>((f) => f.type === 'token' && f.data === 'hi from a visitor', 30_000, from);
    expect(heard.stream_name).toBe(name);
    await waitForTokens(page, name, 1);
    expect((await laneTokens(page, name)).map((t) => t.data)).toEqual(['hi from a visitor']);
    expect(errors).toEqual([]);
    await agent.close();
    await elsewhere.close();
    await context.close();
  });

  it('markup in a token or in stream metadata is shown as text and never becomes part of the page', async () => {
    const context = await browser.newContext();
    const { page, observerLink } = await mintOnPage(context, broker.url);
    const watcher = await context.newPage();
    await watcher.goto(observerLink);
    await watcher.locator('[data-testid=status][data-state=live]').waitFor();

    const img = '<img src=x onerror="window.__pwned=1">';
    const script = '<script>window.__pwned=1</script>';
    const metadata = { name: img, note: script, html: '<b id="bold">bold</b>' };
    const agent = await agentFromWscatLine(page, { streamName: 'mallory', metadata });
    await agent.joined;
    const tokens = [script, img, '<b id="bold">not bold</b>', '&lt;entity&gt;'];
    await speak(agent, tokens);

    for (const p of [page, watcher]) {
      await waitForTokens(p, 'mallory', tokens.length);
      expect((await laneTokens(p, 'mallory')).map((t) => t.data)).toEqual(tokens);
      expect(await p.locator('.lane[data-stream-name="mallory"] .lane-meta').textContent()).toBe(JSON.stringify(metadata));
      const injected = await p.evaluate(() => ({
        elements: document.querySelectorAll('main img, main script, #bold').length,
        pwned: (window as unknown as { __pwned?: number }).__pwned ?? null,
      }));
      expect(injected).toEqual({ elements: 0, pwned: null });
    }
    await agent.close();
    await context.close();
  });

  it('the MCP pane is a client of the same link: the agent is heard through ams_recv, and ams_send reaches the agent and the raw wire', async () => {
    const context = await browser.newContext();
    const { page, errors } = await mintOnPage(context, broker.url);
    await page.locator('[data-testid=mcp-status][data-state=live]').waitFor();
    const sent = (await page.locator('[data-testid=mcp-log] .entry.out code').allTextContents()).map((t) => JSON.parse(t) as { method: string; params?: { name?: string } });
    expect(sent.slice(0, 4).map((m) => m.params?.name ?? m.method)).toEqual(['initialize', 'notifications/initialized', 'ams_join', 'ams_recv']);

    const agent = await agentFromWscatLine(page, { streamName: 'agent' });
    await agent.joined;
    await speak(agent, ['through ', 'the ', 'wrapper']);
    await waitForTokens(page, 'agent', 3);
    // ams_recv returns the very frames the WebSocket carried: same data, same seqs.
    const onWire = (await wireFrames(page)).map((w) => w.frame).filter((f) => f.type === 'token' && f.stream_name === 'agent');
    const expected = onWire.map((f) => `seq ${f.seq} · token from agent: ${JSON.stringify(f.data)}`);
    await page.waitForFunction(
      (lines) => {
        const notes = [...document.querySelectorAll('[data-testid=mcp-log] .entry.note code')].map((n) => n.textContent);
        return lines.every((l) => notes.includes(l));
      },
      expected,
      { timeout: 30_000 },
    );

    const from = agent.frames.length;
    await page.getByTestId('mcp-input').fill('hello over MCP');
    await page.getByTestId('mcp-send').click();
    const heard = await agent.next<TokenFrame>((f) => f.type === 'token' && f.data === 'hello over MCP', 30_000, from);
    expect(heard.stream_name).toBe('browser-mcp');
    // The MCP session is another identity, so the page's own socket hears it as a peer frame.
    await waitForTokens(page, 'browser-mcp', 1);
    expect(await laneTokens(page, 'browser-mcp')).toEqual([{ data: 'hello over MCP', seq: String(heard.seq) }]);
    expect((await wireFrames(page)).map((w) => w.frame)).toContainEqual(expect.objectContaining({ type: 'token', stream_name: 'browser-mcp', data: 'hello over MCP', seq: heard.seq }));
    expect(errors).toEqual([]);
    await agent.close();
    await context.close();
  });

  it('mid-conversation the page fits a phone-width screen, and a screenshot of it is saved', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const { page, errors } = await mintOnPage(context, broker.url);
    const agent = await agentFromWscatLine(page, { streamName: 'claude-agent', metadata: { model: 'an LLM', task: 'summarise the thread' } });
    await agent.joined;
    const critic = await agentFromWscatLine(page, { streamName: 'critic', metadata: { model: 'another LLM' } });
    await critic.joined;
    await speak(agent, 'Streams are the primitive: each agent owns one, and everyone else hears it token by token.'.split(/(?<= )/));
    await sendFromPage(page, 'Nice. What about the observer link?');
    await speak(critic, 'It is read-only: anyone holding it can watch, nobody can speak with it.'.split(/(?<= )/));
    await waitForTokens(page, 'critic', 5);
    await page.waitForFunction(() => document.querySelectorAll('.lane[data-own="true"] .tok.pending').length === 0);

    const wide = join(RESULTS_DIR, 'demo-mid-conversation.png');
    await page.screenshot({ path: wide, fullPage: true });
    expect(statSync(wide).size).toBeGreaterThan(20_000);

    await page.setViewportSize({ width: 375, height: 740 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBe(0);
    // The two panes stack instead of squeezing side by side.
    const mcp = await page.getByTestId('mcp-pane').boundingBox();
    const wire = await page.getByTestId('wire-pane').boundingBox();
    expect(wire!.y).toBeGreaterThanOrEqual(mcp!.y + mcp!.height);
    await page.screenshot({ path: join(RESULTS_DIR, 'demo-phone.png'), fullPage: true });
    expect(errors).toEqual([]);
    await agent.close();
    await critic.close();
    await context.close();
  });
});
