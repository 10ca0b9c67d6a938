import type { z } from 'zod';

/** A value as an env file would write it. A default is one too: it goes through the format. */
export type EnvText = string | number | boolean;

/**
 * What a setting is when its variable is unset: one value everywhere; a value that differs in
 * production (the README shows both, so production never differs silently); or a value computed
 * when the config loads, described by `doc` for the README (e.g. "hostname-pid").
 */
export type SettingDefault =
  | EnvText
  | { readonly production: EnvText; readonly otherwise: EnvText }
  | { readonly computed: () => EnvText; readonly doc: string };

/** A check that applies when `NODE_ENV=production`; the README shows its `doc`. */
export interface ProductionRule<T = unknown> {
  readonly doc: string;
  /** What is wrong with `value`, one line each, without the variable's name. */
  check(value: T): readonly string[];
}

/** What a declaration says; {@link setting} turns it into a {@link Setting}. */
export interface SettingDeclaration<
  F extends z.ZodType = z.ZodType,
  D extends SettingDefault | undefined = SettingDefault | undefined,
> {
  /** The environment variable. */
  readonly env: string;
  /** Parses the variable's text into the config value; its messages reach the operator as is. */
  readonly format: F;
  /** Applies when the variable is unset, or blank for a format that reads blank as unset. */
  readonly default?: D;
  /** Without a default: what an unset variable means, for the README (e.g. "no Redis"). */
  readonly unset?: string;
  /** One line for the README's table (Markdown). */
  readonly doc: string;
  readonly production?: ProductionRule<z.output<F> | undefined>;
  /**
   * The value is a credential: it has no default (a default would be a published secret), and
   * the docs and the drift test never print it.
   */
  readonly secret?: boolean;
}

const DECLARED = Symbol('setting');

/** One declared setting, made by {@link setting}; {@link isSetting} tells it from a group. */
export interface Setting<
  F extends z.ZodType = z.ZodType,
  D extends SettingDefault | undefined = SettingDefault | undefined,
> extends SettingDeclaration<F, D> {
  readonly [DECLARED]: true;
}

/** Declares a setting (see {@link SettingDeclaration}). */
export function setting<F extends z.ZodType, D extends SettingDefault | undefined = undefined>(
  declaration: SettingDeclaration<F, D>,
): Setting<F, D> {
  if (declaration.secret && declaration.default !== undefined) {
    throw new Error(`${declaration.env}: a secret cannot have a default`);
  }
  return Object.freeze({ ...declaration, [DECLARED]: true as const });
}

/** Whether `node` of a {@link SettingTree} is a setting rather than a group of them. */
export function isSetting(node: Setting | SettingTree): node is Setting {
  return DECLARED in node;
}

/** Settings grouped the way the config is: the tree's shape is the config's shape. */
export interface SettingTree {
  readonly [key: string]: Setting | SettingTree;
}

type ReadonlyList<T> = T extends readonly (infer E)[] ? readonly E[] : T;

/** The value a setting yields: `undefined` only when it has no default and its variable is unset. */
export type SettingValue<S> =
  S extends Setting<infer F, infer D>
    ? ReadonlyList<D extends undefined ? z.output<F> | undefined : Exclude<z.output<F>, undefined>>
    : never;

/** The values a tree of settings yields, in the tree's shape (property docs carry over). */
export type SettingValues<T> = {
  readonly [K in keyof T]: T[K] extends Setting ? SettingValue<T[K]> : SettingValues<T[K]>;
};

/** Every setting in `tree` with the keys that lead to it, in declaration order. */
export function listSettings(
  tree: SettingTree,
  path: readonly string[] = [],
): Array<{ readonly path: readonly string[]; readonly setting: Setting }> {
  return Object.entries(tree).flatMap(([key, node]) =>
    isSetting(node)
      ? [{ path: [...path, key], setting: node }]
      : listSettings(node, [...path, key]),
  );
}

/** The default that applies, as env text; `undefined` when the setting has none. */
export function defaultText(
  fallback: SettingDefault | undefined,
  isProduction: boolean,
): string | undefined {
  if (fallback === undefined) return undefined;
  if (typeof fallback !== 'object') return String(fallback);
  if ('computed' in fallback) return String(fallback.computed());
  return String(isProduction ? fallback.production : fallback.otherwise);
}

/** A setting's value, or the problems with its text (one line each, naming the variable). */
export interface SettingReading<T> {
  readonly value: T;
  readonly problems: readonly string[];
}

/** Parses `text` with the setting's format. */
export function parseSetting<S extends Setting>(
  setting: S,
  text: string,
): SettingReading<SettingValue<S> | undefined> {
  const parsed = setting.format.safeParse(text);
  if (parsed.success) return { value: parsed.data as SettingValue<S>, problems: [] };
  return {
    value: undefined,
    problems: parsed.error.issues.map(
      (issue) => `${[setting.env, ...issue.path.map(String)].join('.')}: ${issue.message}`,
    ),
  };
}

/** Reads one setting from `env`: its variable, else its default for this environment. */
export function readSetting<S extends Setting>(
  setting: S,
  env: NodeJS.ProcessEnv,
  isProduction: boolean,
): SettingReading<SettingValue<S>> {
  const text = env[setting.env];
  if (text !== undefined) {
    const reading = parseSetting(setting, text);
    if (reading.problems.length > 0 || reading.value !== undefined) {
      return reading as SettingReading<SettingValue<S>>;
    }
  }
  const fallback = defaultText(setting.default, isProduction);
  const reading =
    fallback === undefined ? { value: undefined, problems: [] } : parseSetting(setting, fallback);
  return reading as SettingReading<SettingValue<S>>;
}

/**
 * Reads every setting of `tree` from `env`, in declaration order.
 *
 * @returns the values in the tree's shape, each setting with its value (for the production
 *   rules), and every problem found.
 */
export function readSettings<T extends SettingTree>(
  tree: T,
  env: NodeJS.ProcessEnv,
  isProduction: boolean,
): {
  values: SettingValues<T>;
  readings: ReadonlyArray<{ readonly setting: Setting; readonly value: unknown }>;
  problems: readonly string[];
} {
  const values: Record<string, unknown> = {};
  const readings: Array<{ setting: Setting; value: unknown }> = [];
  const problems: string[] = [];
  for (const { path, setting } of listSettings(tree)) {
    const reading = readSetting(setting, env, isProduction);
    problems.push(...reading.problems);
    readings.push({ setting, value: reading.value });
    let group = values;
    for (const key of path.slice(0, -1)) group = (group[key] ??= {}) as Record<string, unknown>;
    group[path[path.length - 1] as string] = reading.value;
  }
  return { values: values as SettingValues<T>, readings, problems };
}
