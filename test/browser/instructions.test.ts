/**
 * The live view's instructions box, in Debian Chromium (issue 19): a magic
 * link opened in a browser shows what the conversation is for, follows the
 * owner's PATCH live (an `x_conversation_updated` frame, no reload), hides the
 * box when the instructions are cleared, and shows the owner's and the peers'
 * words as text: markup in them never becomes an element or runs.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { open, uniqueNs, sharedBroker } from '../e2e/support';
import { HAS_CHROMIUM, SKIP_NOTICE, launchChromium, speak, watchErrors } from './support';

const e2e = sharedBroker();

/** Markup that, were it ever parsed as HTML, would make an element and leave a mark on the page. */
const HOSTILE = (tag: string) => `<img src=x onerror="window.__pwned='${tag}'"> <b>bold</b>`;

describe.skipIf(!HAS_CHROMIUM)(HAS_CHROMIUM ? 'the live view\'s instructions' : SKIP_NOTICE, () => {
  let browser: Browser;
  beforeAll(async () => { browser = await launchChromium(); });
  afterAll(async () => { await browser?.close(); });

  it('shows the instructions given at mint, follows the owner\'s PATCH without a reload, and never renders them or peer text as HTML', async () => {
    const owner = await e2e.api.createAccount(uniqueNs('in'));
    const first = `Review the build, then say go or stop.\n${HOSTILE('mint')}`;
    const minted = await e2e.api.createConversation(owner, { instructions: first });

    const context = await browser.newContext();
    const view = await context.newPage();
    const errors = watchErrors(view);
    await view.goto(minted.magic_link);
    await view.locator('[data-testid=status][data-state=live]').waitFor();
    const box = view.locator('#instructions-box');
    const text = view.getByTestId('conversation-instructions');
    expect(await box.isVisible()).toBe(true);
    expect(await text.textContent()).toBe(first);

    // A mark on the window tells a reload apart from a live update: a reload would lose it.
    await view.evaluate(() => { (window as unknown as { __sameDocument: boolean }).__sameDocument = true; });
    const patch = (instructions: string) => fetch(`${e2e.broker.url}/v1/${owner.namespace}/conversations/${minted.alias}`, {
      method: 'PATCH',
      headers: { Authorization: `Bearer ${owner.credential}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ instructions }),
    });
    const second = `Ship it once the checks pass. ${HOSTILE('patch')}`;
    expect((await patch(second)).status).toBe(200);
    await view.waitForFunction((want) => document.querySelector('[data-testid=conversation-instructions]')?.textContent === want, second, { timeout: 30_000 });
    expect(await view.evaluate(() => (window as unknown as { __sameDocument?: boolean }).__sameDocument)).toBe(true);
    // The transcript tells the change as a line of the owner's, in the same text.
    await view.locator('[data-testid=transcript-event]', { hasText: `changed the conversation's instructions: ${second}` }).waitFor();

    // A peer's words are text too: its token lands in its lane and the transcript unparsed.
    const peer = await e2e.api.createAccount(uniqueNs('pe'));
    const agent = open(minted.magic_link, { credential: peer.credential, streamName: 'peer', receipts: true });
    await agent.joined;
    const said = HOSTILE('peer');
    await speak(agent, [said]);
    await view.waitForFunction((want) => [...document.querySelectorAll('.lane[data-stream-name="peer"] .tok')].some((t) => t.textContent === want), said, { timeout: 30_000 });

    // Cleared instructions hide the box, still without a reload.
    expect((await patch('')).status).toBe(200);
    await box.waitFor({ state: 'hidden', timeout: 30_000 });
    expect(await text.textContent()).toBe('');
    expect(await view.evaluate(() => (window as unknown as { __sameDocument?: boolean }).__sameDocument)).toBe(true);

    // None of that markup became an element, and no handler in it ran.
    expect(await view.locator('img, b').count()).toBe(0);
    expect(await view.evaluate(() => (window as unknown as { __pwned?: string }).__pwned)).toBeUndefined();
    await view.screenshot({ path: 'test-results/instructions.png', fullPage: true });
    await agent.close();
    expect(errors).toEqual([]);
  });
});
