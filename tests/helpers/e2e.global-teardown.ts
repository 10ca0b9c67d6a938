/** Stops what e2e.global-setup.ts started. */
export default function teardown(): void {
  globalThis.e2ePostgres?.destroy();
  globalThis.e2ePostgres = undefined;
}
