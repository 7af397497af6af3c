import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';
import { cloudflareTest } from '@cloudflare/vitest-pool-workers';

// Integration tests inside real workerd, against the Worker and its Durable Objects.
export default defineConfig({
  // AMS_ENV=development as under `npm start` (wrangler.toml never sets it; decision 0092).
  plugins: [cloudflareTest({ wrangler: { configPath: './wrangler.toml' }, miniflare: { bindings: { AMS_ENV: 'development' } } })],
  test: {
    include: ['test/workers/**/*.test.ts'],
    // A liveness bound, not a speed check: property runs do hundreds of real requests
    // and share two cores with workerd.
    testTimeout: 30_000,
    // Every file runs in a workerd of its own, and much of a file's time is that runtime loading the
    // Worker's modules: two files at once on two cores took 20 % less time than one at a time (measured).
    maxWorkers: Math.max(2, availableParallelism()),
    // The broker's operational event lines (one JSON line per connection, join, leave…) would bury the
    // test report; tests that check them read them where they are written, never from this output.
    onConsoleLog: (line) => !line.startsWith('{"ams_event"'),
  },
});
