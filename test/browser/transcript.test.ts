/**
 * The transcript beside the lanes, in Debian Chromium: a magic link opened as
 * the live view shows each utterance once, under its speaker, in seq order of
 * its first token, growing while it is spoken and finished after the quiet
 * gap; joins and leaves as short lines; hostile text as text.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAS_CHROMIUM, SKIP_NOTICE, agentFromWscatLine, launchChromium, mintOnPage, speak, watchErrors } from './support';
import { sharedBroker } from '../e2e/support';

const { broker } = sharedBroker();

interface Shown { speaker: string | null; text: string; complete: string | null }

function utterances(page: Page): Promise<Shown[]> {
  return page.$$eval('[data-testid=transcript] [data-testid=utterance]', (nodes) => nodes.map((n) => ({
    speaker: n.getAttribute('data-speaker'),
    text: n.querySelector('.utterance-text')?.textContent ?? '',
    complete: n.getAttribute('data-complete'),
  })));
}

describe.skipIf(!HAS_CHROMIUM)(HAS_CHROMIUM ? 'the transcript' : SKIP_NOTICE, () => {
  let browser: Browser;
  beforeAll(async () => { browser = await launchChromium(); });
  afterAll(async () => { await browser?.close(); });

  it('shows utterances interleaved in seq order under their speakers, growing, then finished, with hostile text as text', async () => {
    const minter = await browser.newContext();
    const { page: demo, magicLink, errors } = await mintOnPage(minter, broker.url);
    const viewer = await browser.newContext();
    const view = await viewer.newPage();
    const viewErrors = watchErrors(view);
    await view.goto(magicLink);
    await view.locator('[data-testid=status][data-state=live]').waitFor();

    const alice = await agentFromWscatLine(demo, { streamName: 'alice' });
    await alice.joined;
    const bob = await agentFromWscatLine(demo, { streamName: 'bob' });
    await bob.joined;
    await view.locator('[data-testid=transcript-event]', { hasText: 'bob joined' }).waitFor();

    // Alice starts, Bob speaks while she is still speaking, Alice goes on.
    await speak(alice, ['The build ', 'is ']);
    await view.locator('[data-testid=utterance][data-speaker=alice][data-complete=false]').waitFor();
    expect(await utterances(view)).toEqual([{ speaker: 'alice', text: 'The build is ', complete: 'false' }]);
    await speak(bob, ['<img src=x onerror="document.title=\'pwned\'">', ' & <b>bold</b>']);
    await speak(alice, ['green.']);
    await view.waitForFunction(() => document.querySelector('[data-testid=utterance][data-speaker=alice] .utterance-text')?.textContent === 'The build is green.');

    // After the quiet gap both are finished, Alice's first: her utterance started first.
    await view.waitForFunction(() => [...document.querySelectorAll('[data-testid=utterance]')].every((n) => n.getAttribute('data-complete') === 'true'), undefined, { timeout: 10_000 });
    expect(await utterances(view)).toEqual([
      { speaker: 'alice', text: 'The build is green.', complete: 'true' },
      { speaker: 'bob', text: '<img src=x onerror="document.title=\'pwned\'"> & <b>bold</b>', complete: 'true' },
    ]);
    expect(await view.locator('[data-testid=transcript] img, [data-testid=transcript] b').count()).toBe(0);
    expect(await view.title()).not.toBe('pwned');

    // A new utterance after the gap is a new entry; a leave is a short line after it.
    await speak(alice, ['Next ', 'one.']);
    await alice.close();
    await view.locator('[data-testid=transcript-event]', { hasText: 'alice left' }).waitFor();
    const shown = await utterances(view);
    expect(shown.map((u) => [u.speaker, u.text, u.complete])).toEqual([
      ['alice', 'The build is green.', 'true'],
      ['bob', '<img src=x onerror="document.title=\'pwned\'"> & <b>bold</b>', 'true'],
      ['alice', 'Next one.', 'true'],
    ]);
    const lines = await view.$$eval('[data-testid=transcript] > *', (nodes) => nodes.map((n) => n.getAttribute('data-testid') === 'utterance' ? `${n.getAttribute('data-speaker')}: ${n.querySelector('.utterance-text')?.textContent}` : n.textContent));
    // The demo page's own streams (its socket and its MCP pane) joined before the agents.
    expect(lines.slice(lines.indexOf('alice joined'))).toEqual(['alice joined', 'bob joined', 'alice: The build is green.', `bob: ${shown[1]!.text}`, 'alice: Next one.', 'alice left']);

    // The demo page that minted the conversation shows the same transcript.
    await demo.locator('[data-testid=transcript-event]', { hasText: 'alice left' }).waitFor();
    expect((await utterances(demo)).map((u) => u.text)).toEqual(shown.map((u) => u.text));
    await view.screenshot({ path: 'test-results/transcript.png', fullPage: true });
    await bob.close();
    expect(errors).toEqual([]);
    expect(viewErrors).toEqual([]);
  });
});
