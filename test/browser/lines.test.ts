/**
 * People speak in lines (issue 19): the page's send box sends each line as a
 * whole utterance (`end: true`) and declares a human; lanes break between
 * utterances. Headless Chromium against a real `wrangler dev`.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenFrame } from '../../src/client';
import { HAS_CHROMIUM, SKIP_NOTICE, agentFromWscatLine, launchChromium, mintOnPage, waitForTokens } from './support';
import { sharedBroker } from '../e2e/support';

const { broker } = sharedBroker();
let browser: Browser;
beforeAll(async () => {
  if (HAS_CHROMIUM) browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});

describe.skipIf(!HAS_CHROMIUM)(`people speak in lines${HAS_CHROMIUM ? '' : ` (${SKIP_NOTICE})`}`, () => {
  it('each line sent from the page is one finished utterance by a human, and lanes break between utterances', async () => {
    const context = await browser.newContext();
    const { page, errors } = await mintOnPage(context, broker.url);
    const agent = await agentFromWscatLine(page, { streamName: 'agent' });
    const joined = await agent.joined;
    // The page's stream is held by a person, as the page declares.
    expect(joined.peers.find((p) => p.stream_name === 'browser')?.identity).toEqual({ kind: 'human', client: 'ams-pages' });
    expect(await page.locator('.lane[data-stream-name="browser"] .lane-kind').textContent()).toBe('human');

    const from = agent.frames.length;
    for (const line of ['The retry loop backs off.', 'Suggest exponential backoff.']) {
      await page.getByTestId('send-input').fill(line);
      await page.getByTestId('send-input').press('Enter');
    }
    const second = await agent.next<TokenFrame>((f) => f.type === 'token' && f.data === 'Suggest exponential backoff.', 30_000, from);
    const first = agent.frames.slice(from).find((f) => f.type === 'token' && f.data === 'The retry loop backs off.') as TokenFrame;
    expect(first.end).toBe(true);
    expect(second.end).toBe(true);

    // An agent's two utterances, each ended, tokens of each run together: the lane breaks only between them.
    for (const [data, end] of [['Retries ', false], ['back off.', true], ['Suggest ', false], ['exponential.', true]] as const) agent.send(data, end ? { end } : {});
    await waitForTokens(page, 'agent', 4);
    const lane = await page.$eval('.lane[data-stream-name="agent"] .lane-tokens', (box) => (box as HTMLElement).innerText);
    expect(lane.split('\n').filter((l) => l.trim() !== '' && !['joined'].includes(l.trim()))).toEqual(['Retries back off.', 'Suggest exponential.']);
    const own = await page.$eval('.lane[data-stream-name="browser"] .lane-tokens', (box) => (box as HTMLElement).innerText);
    expect(own.split('\n').filter((l) => l.trim() !== '')).toEqual(['The retry loop backs off.', 'Suggest exponential backoff.']);
    expect(errors).toEqual([]);
    await agent.close();
    await context.close();
  });
});
