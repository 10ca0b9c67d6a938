// Preloaded with NODE_OPTIONS=--require: a cluster worker that fails at start-up, every time,
// as a bad release or a broken configuration would make it. The primary is unaffected.
if (require('node:cluster').isWorker) {
  throw new Error('worker failed at start-up (test fixture)');
}
