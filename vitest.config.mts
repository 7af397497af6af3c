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
    // The broker's operational event lines (one JSON line per connection, join, leave…) would bury the
    // test report; tests that check them read them where they are written, never from this output.
    onConsoleLog: (line) => !line.startsWith('{"ams_event"'),
  },
});
