import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['shared/src/**/*.test.ts', 'appliance/src/**/*.test.ts', 'console/main/**/*.test.ts', 'console/src/**/*.test.ts', 'test/**/*.test.ts'],
    exclude: ['**/node_modules/**', 'test/bench/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // black-box suites each start their own appliance on ephemeral ports
    fileParallelism: true,
    maxWorkers: 2,
  },
});
