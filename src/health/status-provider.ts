/**
 * A component that reports its own state in `/health/metrics`, under its `name`: for example
 * the rate limiter, as `rateLimit` (its store, whether it fell back to memory). Passed to
 * `createApp` in `statusProviders`; the app knows nothing else about it.
 */
export interface StatusProvider {
  /** The key of its section in the JSON, e.g. `rateLimit`. */
  readonly name: string;
  /**
   * The state now, as plain JSON-serialisable data. May be async; a provider that throws or
   * takes over a second is reported as `{ "error": "..." }` rather than failing the endpoint.
   */
  state(): unknown;
}
