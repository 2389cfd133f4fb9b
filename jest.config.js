// Tests are compiled by `tsc` first and run from dist/, so jest needs no TypeScript transform.
// The RocketMQ client's generated protobuf code keeps a global (`apache`) across test files.
// Only dist/ holds modules to map: .run/ holds the real node's container filesystems (with
// copies of package.json) and would be crawled otherwise.
const common = { testEnvironment: 'node', transform: {}, testEnvironmentOptions: { globalsCleanup: 'off' }, roots: ['<rootDir>/dist/'] };

// A client a failed test left reconnecting would break every suite after it (open-clients.ts).
const ENDS_OPEN_CLIENTS = '<rootDir>/dist/test/integration/support/end-open-clients.js';

export default {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/dist/test/unit/**/*.test.js'] },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/dist/test/integration/**/*.test.js'],
      setupFilesAfterEnv: [ENDS_OPEN_CLIENTS],
    },
    // On the real node of test/env/node.sh (root only: containerd, runc, network namespaces).
    { ...common, displayName: 'node', testMatch: ['<rootDir>/dist/test/node/**/*.test.js'], setupFilesAfterEnv: [ENDS_OPEN_CLIENTS] },
  ],
};
