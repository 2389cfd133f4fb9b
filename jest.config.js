// Tests are compiled by `tsc` first and run from dist/, so jest needs no TypeScript transform.
const common = { testEnvironment: 'node', transform: {} };

export default {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/dist/test/unit/**/*.test.js'] },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/dist/test/integration/**/*.test.js'],
      testTimeout: 60000,
    },
  ],
};
