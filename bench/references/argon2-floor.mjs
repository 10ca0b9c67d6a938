// Reference: the argon2id floor of login. Password verifications with the app's own hasher
// (dist/auth/password-hasher.js: its parameters and its concurrency limit, PASSWORD_HASH_CONCURRENCY
// or cores - 1) kept `BENCH_FLOOR_IN_FLIGHT` deep for BENCH_DURATION seconds after BENCH_WARMUP,
// on the same cores as the app. Prints one JSON line: verifications per second.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { createPasswordHasher } = require('../../dist/auth/password-hasher.js');

const concurrency = process.env.PASSWORD_HASH_CONCURRENCY
  ? Number(process.env.PASSWORD_HASH_CONCURRENCY)
  : undefined;
const hasher = createPasswordHasher(concurrency ? { concurrency } : {});
const password = 'correct horse battery staple';
const stored = await hasher.hash(password);
const inFlight = Number(process.env.BENCH_FLOOR_IN_FLIGHT ?? 32);

async function run(seconds) {
  const end = Date.now() + seconds * 1000;
  let done = 0;
  const worker = async () => {
    while (Date.now() < end) {
      await hasher.verify(stored, password);
      done += 1;
    }
  };
  const started = Date.now();
  await Promise.all(Array.from({ length: inFlight }, worker));
  return done / ((Date.now() - started) / 1000);
}

await run(Number(process.env.BENCH_WARMUP ?? 3));
const perSec = await run(Number(process.env.BENCH_DURATION ?? 10));
process.stdout.write(JSON.stringify({ verificationsPerSec: perSec }) + '\n');
