const shared = {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      {
        jsc: { parser: { syntax: 'typescript' }, target: 'es2023' },
        module: { type: 'es6' },
        sourceMaps: 'inline',
      },
    ],
  },
  testMatch: ['**/*.test.ts'],
};

/** @type {import('jest').Config} */
const config = {
  projects: [
    // Pure code: no servers, runs anywhere in seconds.
    { ...shared, displayName: 'unit', roots: ['<rootDir>/test/unit'] },
    // ERP connectors against local mock vendors: HTTP only, no PostgreSQL or Temporal.
    { ...shared, displayName: 'connectors', roots: ['<rootDir>/test/integrations'] },
    // Real PostgreSQL and Temporal, started once per run by the global setup.
    {
      ...shared,
      displayName: 'integration',
      roots: ['<rootDir>/test/api', '<rootDir>/test/workflow', '<rootDir>/test/e2e'],
      globalSetup: '<rootDir>/test/support/global-setup.mjs',
      globalTeardown: '<rootDir>/test/support/global-teardown.mjs',
    },
  ],
  reporters: ['default', '<rootDir>/test/support/summary-reporter.mjs'],
  testTimeout: 60_000,
  // Two cores: one suite at a time keeps the shared PostgreSQL and Temporal servers responsive.
  maxWorkers: 1,
  // Suites run in one worker that is replaced once it holds more than this after a suite: ESM
  // modules loaded through vm are never freed, so a single in-band process grew past Node's 4 GB
  // heap limit and aborted (CI exit 134).
  workerIdleMemoryLimit: '1.5GB',
  // Temporal's native runtime keeps handles open after teardown (sdk-typescript #928).
  forceExit: true,
};

export default config;
