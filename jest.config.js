// Tests are compiled by `tsc` first and run from dist/, so jest needs no TypeScript transform.
// The RocketMQ client's generated protobuf code keeps a global (`apache`) across test files.
const common = { testEnvironment: 'node', transform: {}, testEnvironmentOptions: { globalsCleanup: 'off' } };

export default {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/dist/test/unit/**/*.test.js'] },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/dist/test/integration/**/*.test.js'],
    },
  ],
};
