// Reference: bare Express 5 plus one node-postgres named prepared statement reading a user by
// id, and nothing else (no middleware, no token, no limiter, no session check): the floor of an
// authenticated read on this machine. `/api/auth/me` is judged against it.
import express from 'express';
import pg from 'pg';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
const id = process.env.BENCH_USER_ID;
const read = {
  name: 'bench_read_user',
  text: 'SELECT id, email, name, created_at FROM users WHERE id = $1::uuid',
};

const app = express();
app.get('/', async (_request, response) => {
  const { rows } = await pool.query({ ...read, values: [id] });
  response.json({ user: rows[0] });
});
const server = app.listen(Number(process.env.PORT), '127.0.0.1');
process.once('SIGTERM', () => {
  server.close();
  void pool.end();
});
