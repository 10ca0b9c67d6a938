// Replicas need one shared database. Without DATABASE_URL the bench serves the embedded one
// exactly as `pnpm start:cluster` does for its workers (PGlite over PostgreSQL's wire protocol on
// a loopback port), from the built code, and prints its URL as one JSON line.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { loadConfig } = require('../dist/config/index.js');
const { createLogger } = require('../dist/logger.js');
const { serveEmbeddedDatabase } = require('../dist/cluster/embedded-database-server.js');

const { config } = loadConfig({ envFile: false });
const logger = createLogger({ level: 'warn', instanceId: 'bench-database' });
const database = await serveEmbeddedDatabase(config, logger);
process.stdout.write(JSON.stringify({ url: database.url }) + '\n');
process.once('SIGTERM', () => {
  database.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
