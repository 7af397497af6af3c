/**
 * The page across a real outage: `wrangler dev` is killed (every socket and
 * event stream dies with it) and started again on the same port and state.
 * While it is down the browsers are held offline, so whatever the agent says
 * meanwhile can only reach them as a replay from their resume cursor.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AmsSocket } from '../../src/client';
import { startBroker, type Broker } from '../support/broker';
import { HAS_CHROMIUM, SKIP_NOTICE, agentAt, launchChromium, laneTokens, mintOnPage, speak, waitForTokens, watchErrors } from './support';

let broker: Broker;
beforeAll(async () => { broker = await startBroker(); });
afterAll(async () => { await broker?.stop(); });

function increasing(seqs: (string | null)[]): boolean {
  return seqs.every((s, i) => s !== null && (i === 0 || Number(s) > Number(seqs[i - 1])));
}

describe.skipIf(!HAS_CHROMIUM)(HAS_CHROMIUM ? 'the page across a broker restart' : SKIP_NOTICE, () => {
  let browser: Browser;
  beforeAll(async () => { browser = await launchChromium(); });
  afterAll(async () => { await browser?.close(); });

  it('the page and an observer say the connection dropped, resume from their cursor, and lose no token either way', async () => {
    const speaker = await browser.newContext();
    const { page, observerLink, errors } = await mintOnPage(speaker, broker.url);
    const observer = await browser.newContext();
    const watcher = await observer.newPage();
    const watcherErrors = watchErrors(watcher);
    await watcher.goto(observerLink);
    await watcher.locator('[data-testid=status][data-state=live]').waitFor();

    const line = (await page.getByTestId('cmd-wscat').textContent()) ?? '';
    const [, connectUrl, credential] = /^wscat -c '([^']+)' -H 'Authorization: Bearer ([^']+)'$/.exec(line) ?? [];
    let agent: AmsSocket = agentAt(connectUrl, credential, { streamName: 'agent' });
    await agent.joined;
    const before = ['a0 ', 'a1 ', 'a2 ', 'a3 ', 'a4 '];
    await speak(agent, before);
    await waitForTokens(page, 'agent', before.length);
    await waitForTokens(watcher, 'agent', before.length);

    // The broker dies for real; both browsers notice and say what they will do.
    await broker.kill();
    for (const p of [page, watcher]) {
      await p.locator('[data-testid=status]:is([data-state=reconnecting], [data-state=offline])').waitFor();
      expect(await p.getByTestId('status').textContent()).toMatch(/will resume after seq \d+/);
    }
    await speaker.setOffline(true);
    await observer.setOffline(true);
    await page.getByTestId('send-input').fill('typed while cut off');
    await page.getByTestId('send-input').press('Enter');

    broker = await startBroker({ port: broker.port, stateDir: broker.stateDir });
    agent = agentAt(connectUrl, credential, { streamName: 'agent' });
    await agent.joined;
    const during = Array.from({ length: 10 }, (_, i) => `b${i} `);
    await speak(agent, during);

    await speaker.setOffline(false);
    await observer.setOffline(false);
    for (const p of [page, watcher]) {
      await p.locator('[data-testid=status][data-state=live]').waitFor({ timeout: 30_000 });
      await waitForTokens(p, 'agent', before.length + during.length);
      const shown = await laneTokens(p, 'agent');
      expect(shown.map((t) => t.data)).toEqual([...before, ...during]);
      expect(increasing(shown.map((t) => t.seq))).toBe(true);
      const status = (await p.getByTestId('status').textContent()) ?? '';
      const replayed = /resumed after seq \d+; (\d+) missed frames? replayed/.exec(status);
      expect(replayed, status).not.toBeNull();
      expect(Number(replayed![1])).toBeGreaterThanOrEqual(during.length);
    }

    // What the page typed while cut off went out after the resume — once.
    const from = agent.frames.length;
    await agent.next((f) => f.type === 'token' && f.data === 'typed while cut off', 30_000, 0);
    await page.getByTestId('send-input').fill('and after');
    await page.getByTestId('send-input').press('Enter');
    await agent.next((f) => f.type === 'token' && f.data === 'and after', 30_000, from);
    expect(agent.tokens().filter((t) => t === 'typed while cut off')).toHaveLength(1);
    await page.waitForFunction(() => document.querySelectorAll('.lane[data-own="true"] .tok.pending').length === 0);
    expect((await laneTokens(page, 'browser')).map((t) => t.data)).toEqual(['typed while cut off', 'and after']);
    await waitForTokens(watcher, 'browser', 2);
    expect(await laneTokens(watcher, 'browser')).toEqual(await laneTokens(page, 'browser'));

    expect(errors).toEqual([]);
    expect(watcherErrors).toEqual([]);
    await agent.close();
    await speaker.close();
    await observer.close();
  });
});
