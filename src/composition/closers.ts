import type { Logger } from '../logger';

/**
 * What the composition root has opened, each with the function that closes it. Closing runs them
 * in reverse order of opening (what was built on a resource closes before it), each bounded in
 * time, so one stuck resource delays shutdown by at most `timeoutMs` and never stops the others
 * from closing.
 */
export class Closers {
  readonly #entries: Array<{ name: string; close: () => unknown }> = [];
  readonly #logger: Logger;
  readonly #timeoutMs: number;
  #closing: Promise<boolean> | undefined;

  constructor(logger: Logger, timeoutMs: number) {
    this.#logger = logger;
    this.#timeoutMs = timeoutMs;
  }

  /** Registers what closes `name`; call it right after `name` is opened. */
  add(name: string, close: () => unknown): void {
    this.#entries.push({ name, close });
  }

  /**
   * Closes everything, last opened first; once (later calls return the first call's promise).
   * @returns false when a closer failed or timed out (each is logged).
   */
  closeAll(): Promise<boolean> {
    this.#closing ??= this.#closeAll();
    return this.#closing;
  }

  async #closeAll(): Promise<boolean> {
    let clean = true;
    for (const { name, close } of [...this.#entries].reverse()) {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          Promise.resolve().then(close),
          new Promise((_, reject) => {
            timer = setTimeout(
              () => reject(new Error(`did not close within ${this.#timeoutMs} ms`)),
              this.#timeoutMs,
            );
          }),
        ]);
      } catch (error) {
        clean = false;
        this.#logger.error({ err: error, resource: name }, `closing the ${name} failed`);
      } finally {
        clearTimeout(timer);
      }
    }
    return clean;
  }
}
