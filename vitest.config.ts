import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    setupFiles: ['test/coverage/child-env.ts'],
    // On in `npm test` (--coverage); off for a single file run with `npx vitest run FILE`.
    coverage: {
      // vitest's v8 provider, plus what the `node dist/lb.js` children run (test/coverage/provider.ts).
      provider: 'custom',
      customProviderModule: './test/coverage/provider.ts',
      include: ['src/**/*.ts'],
      reporter: ['text-summary', 'text', 'html'],
      reportsDirectory: 'coverage',
      // A flaky test must not hide the report of the 1,000 others.
      reportOnFailure: true,
      thresholds: {
        lines: 85,
        // The HTTP/1.1 parsers and framing (heads, fields, chunked, body kinds).
        'src/h1/*.ts': { branches: 95 },
      },
    },
  },
});
