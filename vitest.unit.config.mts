import { defineConfig } from 'vitest/config';

// Pure modules, in Node: no runtime needed, milliseconds each.
export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts'],
    environment: 'node',
    testTimeout: 30_000,
  },
});
