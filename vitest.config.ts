import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Native addons belong in forked processes (vitest's advice), one at a time: the CPU engine uses
    // every core, and timing-sensitive tests (event-loop lag) must not compete with each other.
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
