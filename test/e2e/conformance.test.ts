/**
 * The official MCP conformance suite (`@modelcontextprotocol/conformance`)
 * against a magic link of a real `wrangler dev`.
 *
 * The suite needs Node 22 and the project runs on Node 20, so both are pinned
 * in test/conformance/package.json (with its own lockfile) and installed there
 * with `npm ci` the first time this file runs; nothing else sees that Node.
 * Each scenario runs as its own CLI process and writes its checks as JSON; a
 * scenario passes when it reported checks and none of them is a FAILURE.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { AmsClient } from '../../src/client';
import { sharedBroker } from './support';

const run = promisify(execFile);
const DIR = resolve(import.meta.dirname, '../conformance');
const NODE = join(DIR, 'node_modules/node/bin/node');
const CLI = join(DIR, 'node_modules/@modelcontextprotocol/conformance/dist/index.js');

/** The scenarios that apply to a server with tools but no resources or prompts, at the revision we serve. */
const SCENARIOS_2025_11_25 = ['server-initialize', 'ping', 'tools-list', 'server-sse-multiple-streams', 'dns-rebinding-protection', 'server-sse-polling'];

/**
 * server-sse-polling calls the suite's own `test_reconnection` tool, which AMS does not have: its answer is
 * the tool error `unknown_tool`, which the suite reports as a failed tool call. Everything else it checks
 * (the POST stream's priming event and retry field, decisions/0120) applies.
 */
const notApplicable2025 = (name: string, c: Check): boolean =>
  name === 'server-sse-polling' && c.id === 'incoming-sse-event' && c.errorMessage === 'Tool call failed';

/** The suite's checks that every SSE stream opens with a priming event and a retry field (SEP-1699); a WARNING there fails the test. */
const PRIMING_CHECKS = ['server-sse-priming-event', 'server-sse-retry-field'];

/** The suite's 2026-07-28 scenarios for such a server (served statelessly, decisions 0085–0087). */
const SCENARIOS_2026_07_28 = ['server-stateless', 'tools-list', 'server-sse-multiple-streams', 'dns-rebinding-protection', 'caching', 'http-header-validation'];

/**
 * Checks of those scenarios that do not apply to a tools-only server, each with why. Only these may fail;
 * any other failure fails the test.
 */
const NOT_APPLICABLE_2026_07_28: Record<string, string> = {
  // Both call a diagnostic tool `test_missing_capability` that needs sampling; AMS has no such tool and no tool needs a client capability.
  'sep-2575-server-rejects-undeclared-capability': 'needs the suite\'s diagnostic tool',
  'sep-2575-missing-capability-http-400': 'needs the suite\'s diagnostic tool',
  // AMS serves no prompts and no resources; tools/list's hints pass.
  'sep-2549-prompts-list-caching-hints': 'no prompts',
  'sep-2549-resources-list-caching-hints': 'no resources',
  'sep-2549-resources-templates-list-caching-hints': 'no resources',
};

interface Check {
  id: string;
  status: 'SUCCESS' | 'FAILURE' | 'WARNING' | 'INFO' | 'SKIPPED';
  description: string;
  errorMessage?: string;
}

const { broker } = sharedBroker();
let link: string;

beforeAll(async () => {
  if (!existsSync(NODE) || !existsSync(CLI)) {
    execFileSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: DIR, stdio: 'inherit', timeout: 300_000 });
  }
  const api = new AmsClient(broker.url);
  const owner = await api.createAccount(`conformance-${Date.now().toString(36)}`);
  link = (await api.createConversation(owner, { alias: `conformance-${Date.now().toString(36)}` })).magic_link;
}, 360_000);

/** Runs one scenario and returns its checks (the CLI's exit code is not trusted alone: it is 0 for "nothing ran"). */
async function scenario(name: string, specVersion: string): Promise<Check[]> {
  const out = mkdtempSync(join(tmpdir(), 'ams-conformance-'));
  await run(NODE, [CLI, 'server', '--url', link, '--scenario', name, '--spec-version', specVersion, '-o', out], {
    timeout: 90_000,
    env: { ...process.env, NO_COLOR: '1' },
  }).catch((err: { stdout?: string; stderr?: string }) => {
    // A failing scenario exits non-zero; its checks.json says why, so only a missing file is an error.
    if (readdirSync(out).length === 0) throw new Error(`conformance ${name} wrote nothing:\n${err.stdout ?? ''}\n${err.stderr ?? ''}`);
  });
  const [dir] = readdirSync(out);
  return JSON.parse(readFileSync(join(out, dir!, 'checks.json'), 'utf8')) as Check[];
}

const failures = (checks: Check[]) => checks.filter((c) => c.status === 'FAILURE').map((c) => `${c.id}: ${c.errorMessage ?? c.description}`);

describe('MCP conformance, 2025-11-25, on the magic link', () => {
  it.each(SCENARIOS_2025_11_25)('%s passes, with no priming or retry warnings', async (name) => {
    const checks = await scenario(name, '2025-11-25');
    expect(checks.filter((c) => c.status === 'SUCCESS').length).toBeGreaterThan(0);
    expect(failures(checks.filter((c) => !notApplicable2025(name, c)))).toEqual([]);
    expect(checks.filter((c) => PRIMING_CHECKS.includes(c.id) && c.status !== 'SUCCESS').map((c) => `${c.id}: ${c.status} ${c.errorMessage ?? ''}`)).toEqual([]);
    // The scenario that looks at a POST stream's first bytes did look.
    if (name === 'server-sse-polling') expect(checks.filter((c) => PRIMING_CHECKS.includes(c.id)).map((c) => `${c.id}: ${c.status}`)).toEqual(PRIMING_CHECKS.map((id) => `${id}: SUCCESS`));
  }, 120_000);
});

describe('MCP conformance, 2026-07-28, on the magic link', () => {
  it.each(SCENARIOS_2026_07_28)('%s passes', async (name) => {
    const checks = await scenario(name, '2026-07-28');
    expect(checks.filter((c) => c.status === 'SUCCESS').length).toBeGreaterThan(0);
    expect(failures(checks.filter((c) => !Object.hasOwn(NOT_APPLICABLE_2026_07_28, c.id)))).toEqual([]);
  }, 120_000);
});
