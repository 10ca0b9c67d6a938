import type { EnvText, Setting } from './setting';
import { DECLARED_SETTINGS } from './settings';

/**
 * The README's configuration table, generated from the declarations so that it cannot drift:
 * `pnpm config:docs` rewrites it, tests/unit/config-drift.test.ts fails when it is stale.
 */

/** Opens the generated table in README.md. */
export const TABLE_START =
  '<!-- config-table: generated from src/config/settings.ts by `pnpm config:docs`; edit those, not this -->';
/** Closes the generated table in README.md. */
export const TABLE_END = '<!-- /config-table -->';

const literal = (value: EnvText): string => (value === '' ? '_(empty)_' : `\`${String(value)}\``);

function defaultCell(setting: Setting): string {
  const fallback = setting.default;
  if (fallback === undefined) return setting.unset ? `_(unset: ${setting.unset})_` : '_(unset)_';
  if (typeof fallback !== 'object') return literal(fallback);
  if ('computed' in fallback) return fallback.doc;
  return `${literal(fallback.production)} in production, ${literal(fallback.otherwise)} otherwise`;
}

const meaningCell = (setting: Setting): string =>
  setting.production ? `${setting.doc} ${setting.production.doc}` : setting.doc;

/**
 * The table as Prettier formats Markdown (columns padded to their widest cell), so that
 * `prettier --check` and the drift test agree.
 */
export function renderSettingsTable(settings: readonly Setting[] = DECLARED_SETTINGS): string {
  const rows = [
    ['Variable', 'Default', 'Meaning'],
    ...settings.map((setting) => [
      `\`${setting.env}\``,
      defaultCell(setting),
      meaningCell(setting),
    ]),
  ].map((cells) => cells.map((cell) => cell.replaceAll('|', '\\|')));
  const widths = [0, 1, 2].map((column) => Math.max(...rows.map((row) => row[column]!.length)));
  const line = (cells: readonly string[]) =>
    `| ${cells.map((cell, column) => cell.padEnd(widths[column]!)).join(' | ')} |`;
  const [header, ...body] = rows;
  return [line(header!), line(widths.map((width) => '-'.repeat(width))), ...body.map(line)].join(
    '\n',
  );
}

/**
 * `readme` with the text between {@link TABLE_START} and {@link TABLE_END} replaced by the
 * generated table.
 *
 * @throws {Error} when the markers are missing.
 */
export function withSettingsTable(readme: string): string {
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  if (start < 0 || end < start) {
    throw new Error(
      `README.md: put the configuration table between the lines ${TABLE_START} and ${TABLE_END}`,
    );
  }
  return `${readme.slice(0, start + TABLE_START.length)}\n\n${renderSettingsTable()}\n\n${readme.slice(end)}`;
}
