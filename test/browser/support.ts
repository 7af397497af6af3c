/**
 * Helpers for the browser tests: headless Debian Chromium driven by
 * playwright-core, and agents that join exactly the way the page tells a
 * person to (the wscat line shown on the page, replayed with `ws`).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import WebSocket from 'ws';
import { AmsSocket, type JsonObject } from '../../src/client';

export const CHROMIUM = '/usr/bin/chromium';
export const HAS_CHROMIUM = existsSync(CHROMIUM);
export const SKIP_NOTICE = `browser tests SKIPPED: no Chromium at ${CHROMIUM} (install it with: apt-get install -y chromium)`;
if (!HAS_CHROMIUM) console.warn(`\n*** ${SKIP_NOTICE} ***\n`);

/** Screenshots for people to look at (git-ignored). */
export const RESULTS_DIR = resolve(import.meta.dirname, '../../test-results');

export function launchChromium(): Promise<Browser> {
  mkdirSync(RESULTS_DIR, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic'],
  });
}

/** Collects uncaught page errors, so a test can insist there were none. */
export function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  return errors;
}

export interface MintedOnPage {
  page: Page;
  magicLink: string;
  observerLink: string;
  errors: string[];
}

/** Opens the demo page and mints a conversation with its one button. */
export async function mintOnPage(context: BrowserContext, base: string): Promise<MintedOnPage> {
  const page = await context.newPage();
  const errors = watchErrors(page);
  await page.goto(`${base}/`);
  await page.getByTestId('mint').click();
  await page.locator('[data-testid=status][data-state=live]').waitFor();
  const magicLink = (await page.getByTestId('magic-link').textContent()) ?? '';
  const observerLink = (await page.getByTestId('observer-link').textContent()) ?? '';
  return { page, magicLink, observerLink, errors };
}

/** The tokens of one lane, in the order the page shows them. */
export function laneTokens(page: Page, streamName: string): Promise<{ data: string; seq: string | null }[]> {
  return page.$$eval(`.lane[data-stream-name="${streamName}"] .tok`, (spans) => spans.map((s) => ({ data: s.textContent ?? '', seq: s.getAttribute('data-seq') })));
}

/** Waits until a lane shows at least `n` tokens. */
export async function waitForTokens(page: Page, streamName: string, n: number): Promise<void> {
  await page.waitForFunction(
    ([name, count]) => document.querySelectorAll(`.lane[data-stream-name="${name}"] .tok`).length >= (count as number),
    [streamName, n] as const,
    { timeout: 30_000 },
  );
}

/**
 * Joins as an agent by running the page's wscat line with `ws`: same URL,
 * same Authorization header. Extra options become the documented headers.
 */
export async function agentFromWscatLine(page: Page, opts: { streamName: string; metadata?: JsonObject; since?: number; epoch?: string }): Promise<AmsSocket> {
  const line = (await page.getByTestId('cmd-wscat').textContent()) ?? '';
  const m = /^wscat -c '([^']+)' -H 'Authorization: Bearer ([^']+)'$/.exec(line);
  if (!m) throw new Error(`the page's wscat line has an unexpected shape: ${line}`);
  return agentAt(m[1], m[2], opts);
}

/** An agent socket at a connect URL with a credential, the way `wscat -H` would open it. */
export function agentAt(connectUrl: string, credential: string, opts: { streamName: string; metadata?: JsonObject; since?: number; epoch?: string }): AmsSocket {
  const headers: Record<string, string> = { Authorization: `Bearer ${credential}`, 'X-AMS-Stream-Name': opts.streamName, 'X-AMS-Receipts': 'true' };
  if (opts.metadata) headers['X-AMS-Stream-Metadata'] = Buffer.from(JSON.stringify(opts.metadata)).toString('base64');
  if (opts.since !== undefined) headers['X-AMS-Since'] = String(opts.since);
  if (opts.epoch !== undefined) headers['X-AMS-Epoch'] = opts.epoch;
  return new AmsSocket(new WebSocket(connectUrl, { headers }) as never);
}

let spoken = 0;

/** Sends tokens and waits for the receipt of the last one, so all of them are in the log. */
export async function speak(agent: AmsSocket, tokens: string[]): Promise<number> {
  const from = agent.frames.length;
  let last = '';
  for (const t of tokens) {
    last = `agent-token-${++spoken}`;
    agent.send(t, { id: last });
  }
  const receipt = await agent.next<{ type: 'x_receipt'; seq: number; ts: string }>((f) => f.type === 'x_receipt' && f.id === last, 30_000, from);
  return receipt.seq;
}
