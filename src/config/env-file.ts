import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { readSetting } from './setting';
import { envFileSetting } from './settings';

/**
 * `env` plus the variables of a dotenv file that `env` does not set: real environment variables
 * win over the file, as with dotenv.
 *
 * @param envFile the file to read; `undefined` reads the one `ENV_FILE` names (default `.env`,
 *   relative to the working directory), `false` none. A missing file is not an error.
 */
export function withEnvFile(
  env: NodeJS.ProcessEnv,
  envFile: string | false | undefined,
): NodeJS.ProcessEnv {
  if (envFile === false) return env;
  const file = path.resolve(envFile ?? readSetting(envFileSetting, env, false).value);
  if (!existsSync(file)) return env;
  return { ...parseEnv(readFileSync(file, 'utf8')), ...env };
}
