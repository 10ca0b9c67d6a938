// Reference, for comparison: bare Express 5 plus a read of a user by id through the app's Prisma
// client (`findUnique`), and nothing else (no middleware, no token, no limiter): what `/me`'s read
// cost before it became one `pg` prepared statement (see express-pg-read.mjs, its floor now).
import { createRequire } from 'node:module';
import express from 'express';

const require = createRequire(import.meta.url);
const { loadConfig } = require('../../dist/config/index.js');
const { openDatabase } = require('../../dist/db/database.js');

const { config } = loadConfig({ envFile: false });
const db = await openDatabase(config);
const id = process.env.BENCH_USER_ID;
// The row and columns of the app's findUserById.
const select = { id: true, email: true, name: true, createdAt: true, passwordHash: true };

const app = express();
app.get('/', async (_request, response) => {
  const { passwordHash: _, ...user } = await db.prisma.user.findUnique({ where: { id }, select });
  response.json({ user });
});
const server = app.listen(config.port, '127.0.0.1');
process.once('SIGTERM', () => {
  server.close();
  void db.close();
});
