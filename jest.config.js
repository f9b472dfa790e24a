// force timezone to UTC to allow tests to work regardless of local timezone
// generally used by snapshots, but can affect specific tests
process.env.TZ = 'UTC';

const path = require('path');
const base = require('./.config/jest.config');

// The scaffold transforms .js/.ts(x) only; some ES-module-only dependencies of
// @grafana/data ship .mjs files (d3-color >= 3.1.1), so those are transformed
// by the same SWC transformer.
const swc = Object.values(base.transform)[0];

module.exports = {
  // Jest configuration provided by Grafana scaffolding
  ...base,
  transform: {
    ...base.transform,
    '^.+\\.mjs$': swc,
  },
  // Keep jest's cache inside the repository (git-ignored node_modules).
  cacheDirectory: path.join(__dirname, 'node_modules', '.cache', 'jest'),
};
