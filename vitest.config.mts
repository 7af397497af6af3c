import { defineConfig } from 'vitest/config';
import { cloudflareTest } from '@cloudflare/vitest-pool-workers';

// Integration tests inside real workerd, against the Worker and its Durable Objects.
export default defineConfig({
  plugins: [cloudflareTest({ wrangler: { configPath: './wrangler.toml' } })],
  test: {
    include: ['test/workers/**/*.test.ts'],
    // A liveness bound, not a speed check: property runs do hundreds of real requests
    // and share two cores with workerd.
    testTimeout: 30_000,
  },
});
