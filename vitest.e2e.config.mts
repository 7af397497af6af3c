import { defineConfig } from 'vitest/config';

// End-to-end tests: each file starts a real `wrangler dev` (test/support/broker.ts)
// and talks to it with real clients (ws, the MCP SDK client, Chromium).
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.test.ts', 'test/browser/**/*.test.ts'],
    environment: 'node',
    testTimeout: 60_000,
    hookTimeout: 90_000,
    // Two cores: one wrangler dev at a time keeps timings honest.
    fileParallelism: false,
  },
});
