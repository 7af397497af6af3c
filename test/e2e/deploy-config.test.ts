/**
 * What a deployment would run with, as wrangler itself resolves the
 * configuration (`wrangler deploy --dry-run` prints the bindings it would
 * upload): no deployable environment carries AMS_ENV=development, so a
 * deployment without real secrets answers 500 misconfigured instead of
 * running on the public development keys.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');

async function dryRun(...envArgs: string[]): Promise<string> {
  const outdir = mkdtempSync(join(tmpdir(), 'ams-dry-run-'));
  const { stdout, stderr } = await promisify(execFile)(join(ROOT, 'node_modules/.bin/wrangler'), ['deploy', '--dry-run', '--outdir', outdir, ...envArgs], {
    cwd: ROOT,
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1', CI: 'true' },
    timeout: 120_000,
  });
  return stdout + stderr;
}

describe('the deployable configuration', () => {
  it('a plain `wrangler deploy` (no --env) carries no development switch', async () => {
    const out = await dryRun();
    expect(out).toContain('--dry-run: exiting now.');
    expect(out).toContain('env.CONVERSATIONS');
    expect(out).toContain('env.CLIENT_LIMITS (ClientLimitObject)');
    expect(out).toContain('env.WEBHOOKS (WebhookObject)');
    expect(out).not.toMatch(/AMS_ENV \("development"\)/);
  }, 150_000);

  it('`npm run deploy` (--env production) says production', async () => {
    const out = await dryRun('--env', 'production');
    expect(out).toMatch(/env\.AMS_ENV \("production"\)/);
    expect(out).toContain('env.CLIENT_LIMITS (ClientLimitObject)');
    expect(out).toContain('env.WEBHOOKS (WebhookObject)');
    expect(out).not.toMatch(/AMS_ENV \("development"\)/);
  }, 150_000);
});
