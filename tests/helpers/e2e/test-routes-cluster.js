// The built cluster (dist/cluster.js) whose workers also have the test-only routes of
// test-routes-server.js: the primary is the production one; each worker runs this file again
// (cluster.fork re-runs the entry), which then starts the server with the extra routes.
const cluster = require('node:cluster');

if (cluster.isPrimary) {
  const { runPrimary } = require('../../../dist/cluster/primary.js');
  const { loadConfigOrExit } = require('../../../dist/server.js');
  void runPrimary(loadConfigOrExit()).then((code) => process.exit(code));
} else {
  require('./test-routes-server.js');
}
