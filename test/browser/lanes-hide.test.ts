/**
 * Hiding a lane in Debian Chromium (decisions/0130): the page filters
 * locally, so a hidden lane keeps receiving its stream, and showing it again
 * shows everything said meanwhile, with no reconnect.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAS_CHROMIUM, SKIP_NOTICE, agentFromWscatLine, launchChromium, laneTokens, mintOnPage, speak, waitForTokens } from './support';
import { sharedBroker } from '../e2e/support';

const { broker } = sharedBroker();

describe.skipIf(!HAS_CHROMIUM)(HAS_CHROMIUM ? 'hiding a lane' : SKIP_NOTICE, () => {
  let browser: Browser;
  beforeAll(async () => { browser = await launchChromium(); });
  afterAll(async () => { await browser?.close(); });

  it('hides one lane\'s tokens, keeps the others, and shows all of it again, including what was said while hidden', async () => {
    const { page, errors } = await mintOnPage(await browser.newContext(), broker.url);
    const alice = await agentFromWscatLine(page, { streamName: 'alice' });
    await alice.joined;
    const bob = await agentFromWscatLine(page, { streamName: 'bob' });
    await bob.joined;
    await speak(alice, ['a1 ']);
    await speak(bob, ['b1 ']);
    await waitForTokens(page, 'alice', 1);
    await waitForTokens(page, 'bob', 1);

    const aliceLane = page.locator('.lane[data-stream-name="alice"]');
    await aliceLane.locator('.lane-toggle').click();
    expect(await aliceLane.getAttribute('data-hidden')).toBe('true');
    expect(await aliceLane.locator('.lane-tokens').isVisible()).toBe(false);
    expect(await page.locator('.lane[data-stream-name="bob"] .lane-tokens').isVisible()).toBe(true);

    await speak(alice, ['a2 ']);
    await speak(bob, ['b2 ']);
    await waitForTokens(page, 'bob', 2);
    // Hidden, not unsubscribed: the lane kept what alice said meanwhile.
    await waitForTokens(page, 'alice', 2);
    await aliceLane.locator('.lane-toggle').click();
    expect(await aliceLane.getAttribute('data-hidden')).toBe('false');
    expect(await aliceLane.locator('.lane-tokens').isVisible()).toBe(true);
    expect((await laneTokens(page, 'alice')).map((t) => t.data)).toEqual(['a1 ', 'a2 ']);
    expect(errors).toEqual([]);
    alice.close();
    bob.close();
  });
});
