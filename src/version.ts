import { readFileSync } from 'node:fs';
import path from 'node:path';

/** The app's version from package.json, read once (this file sits in src/ or dist/). */
export const APP_VERSION: string = (
  JSON.parse(readFileSync(path.resolve(__dirname, '..', 'package.json'), 'utf8')) as {
    version: string;
  }
).version;
