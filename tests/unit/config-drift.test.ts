import { readFileSync } from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual, parseEnv } from 'node:util';
import {
  defaultText,
  parseSetting,
  readSetting,
  type Setting,
  type SettingDefault,
} from '../../src/config/setting';
import { withSettingsTable } from '../../src/config/settings-table';
import {
  DECLARED_SETTINGS,
  envFileSetting,
  PLACEHOLDER_SECRETS,
  settings,
} from '../../src/config/settings';

/**
 * The declarations in src/config/settings.ts are the one description of the settings. Each test
 * here lists what disagrees with them, one line each saying what to fix:
 *
 * - README.md: the table between the config-table markers is what `pnpm config:docs` writes.
 * - .env.example (development, works as-is):
 *   - it names every declared setting but ENV_FILE (a .env file cannot choose itself), either
 *     set (`NAME=value`) or commented out (`# NAME=value`), and nothing that is not declared;
 *   - a line that is set shows the setting's default for the file's NODE_ENV, so copying the file
 *     to .env changes nothing; only a setting without a default (the JWT secrets) may be set to
 *     another value, and one whose default is computed (MAX_WORKERS) is commented out;
 *   - a commented-out line is an example: any valid value.
 * - .env.prod.example (production choices, not defaults): it names only declared settings and
 *   the variables docker-compose.prod.yml reads; every value is valid; it sets every setting
 *   that production requires.
 * - Both files show a secret empty or as a placeholder production refuses, and no message here
 *   prints a secret's value.
 */

const ROOT = path.resolve(__dirname, '../..');
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');

const byName = new Map(DECLARED_SETTINGS.map((setting) => [setting.env, setting]));

interface ExampleLine {
  readonly where: string;
  readonly setting: Setting | undefined;
  readonly name: string;
  readonly value: string;
  readonly commented: boolean;
}

/** The `NAME=value` lines of an env file, set or commented out (prose comments are skipped). */
function exampleLines(file: string): ExampleLine[] {
  return read(file)
    .split('\n')
    .flatMap((text, index) => {
      const match = /^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$/.exec(text);
      if (!match) return [];
      const [, comment, name = '', rest = ''] = match;
      return [
        {
          where: `${file}:${index + 1}`,
          setting: byName.get(name),
          name,
          value: parseEnv(`${name}=${rest}`)[name] ?? '',
          commented: comment !== undefined,
        },
      ];
    });
}

const shown = (setting: Setting, value: string) =>
  setting.secret ? '(a secret)' : JSON.stringify(value);

/** Problems any example file can have: invalid values, secrets shown. */
function valueProblems({ where, setting, name, value }: ExampleLine): string[] {
  if (!setting) return [];
  if (setting.secret && value !== '' && !PLACEHOLDER_SECRETS.includes(value)) {
    return [`${where}: ${name} shows a real secret; leave it empty or use a placeholder`];
  }
  return parseSetting(setting, value).problems.map(
    (problem) => `${where}: ${name}=${shown(setting, value)} is invalid (${problem})`,
  );
}

const isComputed = (fallback: SettingDefault | undefined) =>
  typeof fallback === 'object' && 'computed' in fallback;

const isRequiredInProduction = (setting: Setting) =>
  (setting.production?.check(undefined) ?? []).length > 0;

describe('the settings declarations', () => {
  it('declare each environment variable once', () => {
    const names = DECLARED_SETTINGS.map((setting) => setting.env);
    const twice = names.filter((name, index) => names.indexOf(name) !== index);
    expect(twice.map((name) => `${name} is declared twice in src/config/settings.ts`)).toEqual([]);
  });

  it('have defaults that their own formats accept, in production and elsewhere', () => {
    const problems = DECLARED_SETTINGS.flatMap((setting) =>
      [false, true].flatMap((isProduction) => {
        const fallback = defaultText(setting.default, isProduction);
        return fallback === undefined
          ? []
          : parseSetting(setting, fallback).problems.map(
              (problem) => `src/config/settings.ts: the default of ${problem}`,
            );
      }),
    );
    expect([...new Set(problems)]).toEqual([]);
  });
});

describe('the README configuration table', () => {
  it('is the one `pnpm config:docs` generates from the declarations', () => {
    const readme = read('README.md');
    const expected = withSettingsTable(readme).split('\n');
    const actual = readme.split('\n');
    const line = expected.findIndex((text, index) => text !== actual[index]);
    expect(
      line < 0 && actual.length === expected.length
        ? []
        : [
            `README.md:${line + 1} differs from the table generated from src/config/settings.ts; ` +
              'run `pnpm config:docs` (edit the declarations, not the table)',
          ],
    ).toEqual([]);
  });
});

describe('.env.example', () => {
  const file = '.env.example';
  const lines = exampleLines(file);
  const fileEnv = parseEnv(read(file));
  const isProduction = readSetting(settings.env, fileEnv, false).value === 'production';

  it('names every declared setting, and only those', () => {
    const named = new Set(lines.map((line) => line.name));
    const missing = DECLARED_SETTINGS.filter(
      (setting) => setting !== envFileSetting && !named.has(setting.env),
    ).map(
      (setting) =>
        `${file}: add ${setting.env} (as "# ${setting.env}=..." when it shows an example rather than the default)`,
    );
    const unknown = lines
      .filter((line) => !line.setting)
      .map((line) => `${line.where}: ${line.name} is not declared in src/config/settings.ts`);
    expect([...missing, ...unknown]).toEqual([]);
  });

  it('shows valid values, and the defaults on every line that is not commented out', () => {
    const problems = lines.flatMap((line) => {
      const { where, setting, name, value, commented } = line;
      const invalid = valueProblems(line);
      if (!setting || commented || invalid.length > 0 || setting.default === undefined) {
        return invalid;
      }
      if (isComputed(setting.default)) {
        return [`${where}: ${name}'s default is computed; comment the line out`];
      }
      const fallback = defaultText(setting.default, isProduction) as string;
      const expected = parseSetting(setting, fallback).value;
      if (isDeepStrictEqual(parseSetting(setting, value).value, expected)) return [];
      return [
        `${where}: ${name}=${shown(setting, value)} is not the default (${fallback}); ` +
          `show the default, or comment the line out ("# ${name}=${value}") if it is an example`,
      ];
    });
    expect(problems).toEqual([]);
  });
});

describe('.env.prod.example', () => {
  const file = '.env.prod.example';
  const lines = exampleLines(file);

  it('names only declared settings and the variables docker-compose.prod.yml reads', () => {
    // `$${NAME}` is Compose's escape for a literal `${NAME}`, left to the container's shell.
    const composeVariables = new Set(
      [...read('docker-compose.prod.yml').matchAll(/(?<!\$)\$\{([A-Z][A-Z0-9_]*)/g)].map(
        (match) => match[1],
      ),
    );
    expect(
      lines
        .filter((line) => !line.setting && !composeVariables.has(line.name))
        .map(
          (line) =>
            `${line.where}: ${line.name} is neither declared in src/config/settings.ts nor read by docker-compose.prod.yml`,
        ),
    ).toEqual([]);
  });

  it('shows valid values', () => {
    expect(lines.flatMap(valueProblems)).toEqual([]);
  });

  it('sets every setting production requires', () => {
    const set = new Set(lines.filter((line) => !line.commented).map((line) => line.name));
    expect(
      DECLARED_SETTINGS.filter(
        (setting) => isRequiredInProduction(setting) && !set.has(setting.env),
      ).map((setting) => `${file}: set ${setting.env}, which production requires`),
    ).toEqual([]);
  });
});
