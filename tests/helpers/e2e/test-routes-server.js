// The built server (dist/server.js, as `pnpm start` runs it) plus routes that only a test should
// have, added through main's `extraRouters` option. The production entry passes none: no debug
// route ships in the app.
const { setTimeout: sleep } = require('node:timers/promises');
const { Router } = require('express');
const { main } = require('../../../dist/server.js');

main({
  extraRouters: ({ db }) => [
    Router()
      // Answers after ?ms= milliseconds: a request still in flight when SIGTERM arrives.
      .get('/test/slow', async (req, res) => {
        const ms = Number(req.query.ms ?? 2000);
        await sleep(ms);
        res.json({ sleptMs: ms });
      })
      // Queries the database and lets any error reach the error handler, like an API route.
      .get('/test/query', async (_req, res) => {
        await db.ping();
        res.json({ ok: true });
      })
      // A bug outside any request: an uncaught exception, or an unhandled rejection.
      .post('/test/crash', (_req, res) => {
        res.status(202).end();
        setImmediate(() => {
          throw new Error('test crash');
        });
      })
      .post('/test/reject', (_req, res) => {
        res.status(202).end();
        void Promise.reject(new Error('test rejection'));
      }),
  ],
});
