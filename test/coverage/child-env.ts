// A setup file (vitest.config.ts): when coverage is on, the processes a test spawns write
// their V8 coverage where test/coverage/provider.ts reads it. Not set on the worker itself,
// whose own coverage vitest takes through the inspector.
const dir = process.env.DOORMAN_CHILD_COVERAGE;
if (dir !== undefined) process.env.NODE_V8_COVERAGE = dir;
