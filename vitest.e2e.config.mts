import { defineConfig } from 'vitest/config';

// End-to-end tests: a real `wrangler dev` (test/support/broker.ts) — one shared by the
// files that only talk to it (test/e2e/global-broker.ts), or a file's own where it
// restarts or configures it — and real clients (ws, the MCP SDK client, Chromium).
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.test.ts', 'test/browser/**/*.test.ts'],
    environment: 'node',
    globalSetup: ['test/e2e/global-broker.ts'],
    testTimeout: 60_000,
    hookTimeout: 90_000,
    // Two cores: one wrangler dev at a time keeps timings honest.
    fileParallelism: false,
  },
});
