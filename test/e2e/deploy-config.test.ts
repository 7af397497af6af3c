/**
 * What a deployment would run with, as wrangler itself resolves the
 * configuration (`wrangler deploy --dry-run` prints the bindings it would
 * upload): no deployable environment carries AMS_ENV=development, so a
 * deployment without real secrets answers 500 misconfigured instead of
 * running on the public development keys. The production environment keeps
 * Workers Logs without invocation logs and binds the metrics dataset
 * (decision 0148), and the bundle stays under its budget.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'smol-toml';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');

/** The bundle's gzipped size, as wrangler reports it, may not pass this (the platform's limit is 3 MiB on the free plan). */
const BUNDLE_GZIP_BUDGET_KIB = 1024;

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

  it('the production bundle is printed and stays under its gzipped budget', async () => {
    const out = await dryRun('--env', 'production');
    const m = /Total Upload: ([\d.]+) KiB \/ gzip: ([\d.]+) KiB/.exec(out);
    expect(m, out).not.toBeNull();
    console.log(`bundle: ${m![1]} KiB, ${m![2]} KiB gzipped (budget ${BUNDLE_GZIP_BUDGET_KIB} KiB gzipped)`);
    expect(Number(m![2])).toBeLessThan(BUNDLE_GZIP_BUDGET_KIB);
    expect(out).toContain('env.AMS_METRICS (ams_events)');
  }, 150_000);

  it('production keeps Workers Logs on and invocation logs (request URLs, with link tokens) off', () => {
    type Observability = { enabled?: boolean; logs?: { enabled?: boolean; invocation_logs?: boolean }; traces?: { enabled?: boolean } };
    const config = parse(readFileSync(join(ROOT, 'wrangler.toml'), 'utf8')) as { observability?: Observability; env: { production: { observability?: Observability; analytics_engine_datasets?: { binding: string; dataset: string }[] } } };
    for (const o of [config.observability, config.env.production.observability]) {
      expect(o?.enabled).toBe(true);
      expect(o?.logs?.enabled).toBe(true);
      expect(o?.logs?.invocation_logs).toBe(false);
      expect(o?.traces?.enabled ?? false).toBe(false);
    }
    expect(config.env.production.analytics_engine_datasets).toEqual([{ binding: 'AMS_METRICS', dataset: 'ams_events' }]);
  });
});
