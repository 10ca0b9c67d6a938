// The load generator: autocannon in a process of its own, so the harness's own work never
// competes with it for the event loop. Reads one JSON job from argv[2] and prints one JSON result.
//
// Job: { url, method, path, headers, body, connections, durationSec, warmupSec,
//        refreshTokens?: { warmup: string[], measured: string[] } }
// With refreshTokens, every request presents an unspent refresh token and returns the rotated one
// from its reply to the pool (reusing a spent token would trip reuse detection). Warm-up and
// measurement use separate sessions: a request cut off when a run ends may have rotated a token
// whose reply was never read.
import autocannon from 'autocannon';

const job = JSON.parse(process.argv[2]);

/** autocannon's request list for one run. */
function requests(tokens) {
  if (!tokens) {
    return [{ method: job.method, path: job.path, headers: job.headers, body: job.body }];
  }
  // A pool of unspent tokens: a request takes one, its reply puts the rotated one back. Each
  // connection has one request in flight at most, so as many sessions as connections suffice,
  // and no token is ever presented twice.
  const pool = [...tokens];
  return [
    {
      method: 'POST',
      path: job.path,
      headers: { 'content-type': 'application/json' },
      setupRequest(request) {
        // An empty pool (replies that failed) shows up as 400s in the error count.
        return { ...request, body: JSON.stringify({ refreshToken: pool.shift() ?? '' }) };
      },
      onResponse(status, body) {
        if (status === 200) pool.push(JSON.parse(body).refreshToken);
      },
    },
  ];
}

function run(durationSec, tokens) {
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: job.url,
        connections: job.connections,
        duration: durationSec,
        requests: requests(tokens),
        timeout: 10,
      },
      (error, result) => (error ? reject(error) : resolve(result)),
    );
    // What went wrong, when something did: error code or message, counted.
    instance.on('reqError', (error) => {
      const kind = error.code ?? error.message;
      errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
    });
    process.once('SIGTERM', () => instance.stop());
  });
}

const errorKinds = {};

if (job.warmupSec > 0) await run(job.warmupSec, job.refreshTokens?.warmup);
for (const kind of Object.keys(errorKinds)) delete errorKinds[kind];
const result = await run(job.durationSec, job.refreshTokens?.measured);

const statusCounts = {};
for (const [code, { count }] of Object.entries(result.statusCodeStats ?? {})) {
  statusCounts[code] = count;
}
process.stdout.write(
  JSON.stringify({
    requestsPerSec: result.requests.average,
    total: result.requests.total,
    durationSec: result.duration,
    latencyMs: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
    statusCounts,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    errorKinds,
  }) + '\n',
);
