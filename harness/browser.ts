import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { findBinary } from './binaries';

/**
 * The flags a headless Chromium needs here: no sandbox (containers, root), no GPU, and none of
 * the background traffic (updates, sync, field trials) that would reach for the internet.
 */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Launches the system's Chromium (Debian's `chromium` package, or `CHROMIUM_PATH`) through
 * playwright-core, which downloads no browser of its own. A missing browser fails with how to
 * install it: a browser test never skips.
 */
export async function launchChromium(): Promise<Browser> {
  const fromEnv = process.env.CHROMIUM_PATH;
  if (fromEnv && !existsSync(fromEnv)) {
    throw new Error(`CHROMIUM_PATH names ${fromEnv}, which does not exist`);
  }
  const executablePath = fromEnv ?? findBinary('chromium');
  return chromium.launch({ executablePath, args: CHROMIUM_ARGS });
}
