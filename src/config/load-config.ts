import path from 'node:path';
import { ConfigError } from './config-error';
import { loadDevSecrets } from './dev-secrets';
import { withEnvFile } from './env-file';
import { readSetting, readSettings, type Setting, type SettingValues } from './setting';
import { LOOPBACK_ONLY, settings } from './settings';

/**
 * The only module that reads `process.env`. Everything else receives a {@link Config}.
 *
 * What each variable means, its default and its production rule are declared in `settings.ts`;
 * this file applies the rules that involve several settings and fills in what is derived.
 */

type Declared = SettingValues<typeof settings>;

/** At most `limit` requests per `windowMs` (a fixed window). */
export type RateLimitPolicy = Declared['rateLimit']['api'];

/**
 * The validated, frozen configuration of one process: the declared settings, in the shape of
 * `settings`, plus what `loadConfig` derives from them.
 */
export type Config = Declared & {
  readonly isProduction: boolean;
  readonly rateLimit: {
    /** Shares the `auth` window (RATE_LIMIT_AUTH_WINDOW_MS). */
    readonly authEmail: RateLimitPolicy;
  };
  /** Always set: outside production, missing secrets are generated once per machine. */
  readonly jwt: { readonly accessSecret: string; readonly refreshSecret: string };
  /** Always set: `MAIL_TRANSPORT`, or what `SMTP_URL` implies. */
  readonly mail: { readonly transport: MailTransportKind };
};

/** How mail leaves the process (see the `MAIL_TRANSPORT` setting). */
export type MailTransportKind = NonNullable<Declared['mail']['transport']>;

/** What loading produced: the config plus warnings to log once a logger exists. */
export interface LoadedConfig {
  readonly config: Config;
  readonly warnings: readonly string[];
}

/** Where {@link loadConfig} reads from. */
export interface LoadConfigOptions {
  /** Variables to read; defaults to `process.env`. */
  env?: NodeJS.ProcessEnv;
  /**
   * A dotenv file whose values apply where `env` has none. Defaults to `.env` in the working
   * directory (`ENV_FILE` overrides); pass `false` to read none.
   */
  envFile?: string | false;
}

/**
 * Reads and validates the configuration.
 *
 * @throws {ConfigError} with one line per problem when the environment is invalid.
 */
export function loadConfig(options: LoadConfigOptions = {}): LoadedConfig {
  const env = withEnvFile(options.env ?? process.env, options.envFile);
  // Production's own defaults (settings.ts) apply from the start.
  const isProduction = readSetting(settings.env, env, false).value === 'production';
  const read = readSettings(settings, env, isProduction);
  if (read.problems.length > 0) throw new ConfigError(read.problems);
  const values = read.values;

  const problems = [
    ...drainDelayProblems(values.shutdown),
    ...redisProblems(values.redis),
    ...readReplicaProblems(values.database),
    ...(isProduction ? productionProblems(read.readings, values.jwt) : []),
    ...mailProblems(values.mail, isProduction),
  ];
  if (problems.length > 0) throw new ConfigError(problems);

  const warnings: string[] = [];
  let { accessSecret, refreshSecret } = values.jwt;
  if (!accessSecret || !refreshSecret) {
    const file = path.resolve(values.dataDir, 'dev-secrets.json');
    const generated = loadDevSecrets(file);
    accessSecret ??= generated.accessSecret;
    refreshSecret ??= generated.refreshSecret;
    warnings.push(
      `JWT secrets not set: using development secrets generated once and kept in ${file}. ` +
        `Set ${settings.jwt.accessSecret.env} and ${settings.jwt.refreshSecret.env} before deploying.`,
    );
  }

  if (isProduction && values.mail.transport === 'log') {
    warnings.push(
      `${settings.mail.transport.env}=log: no mail leaves this process; each message, links included, is written to the log only.`,
    );
  }

  const { env: environment, ...rest } = values;
  const config: Config = {
    env: environment,
    isProduction,
    ...rest,
    rateLimit: {
      ...values.rateLimit,
      authEmail: { ...values.rateLimit.authEmail, windowMs: values.rateLimit.auth.windowMs },
    },
    jwt: { ...values.jwt, accessSecret, refreshSecret },
    mail: {
      ...values.mail,
      transport: values.mail.transport ?? (values.mail.smtpUrl ? 'smtp' : 'outbox'),
    },
    metrics: {
      ...values.metrics,
      // Metrics describe internals (versions, memory, traffic): with no restriction configured
      // they are served to this machine only, never to the world by accident.
      allow: values.metrics.allow ?? (values.metrics.token ? undefined : LOOPBACK_ONLY),
    },
  };
  return { config: deepFreeze(config), warnings };
}

function drainDelayProblems({ timeoutMs, drainDelayMs }: Declared['shutdown']): string[] {
  if (drainDelayMs < timeoutMs) return [];
  const { drainDelayMs: drain, timeoutMs: timeout } = settings.shutdown;
  return [
    `${drain.env}: must be shorter than ${timeout.env} (${timeoutMs}), which also covers in-flight requests and closing connections`,
  ];
}

/** A read replica is a replica of a server: the embedded database has none. */
function readReplicaProblems({ url, readUrl }: Declared['database']): string[] {
  if (!readUrl || url) return [];
  const { url: urlSetting, readUrl: readUrlSetting } = settings.database;
  return [`${readUrlSetting.env}: needs ${urlSetting.env} (the primary it replicates)`];
}

/** One way to reach Redis: a URL, or a Sentinel group with its passwords set apart. */
function redisProblems({ url, sentinels, password }: Declared['redis']): string[] {
  const {
    url: urlSetting,
    sentinels: sentinelsSetting,
    password: passwordSetting,
  } = settings.redis;
  if (url && sentinels) {
    return [
      `${sentinelsSetting.env}: set either ${urlSetting.env} (one Redis) or ${sentinelsSetting.env} (a Sentinel group), not both`,
    ];
  }
  if (url && password) {
    return [
      `${passwordSetting.env}: applies to ${sentinelsSetting.env}; with ${urlSetting.env}, put the password in the URL (redis://:password@host:6379)`,
    ];
  }
  return [];
}

/**
 * Mail must have a way out: SMTP needs its URL, and production sends through SMTP unless log-only
 * mail is chosen by name. The development outbox writes files to the local disk, which a
 * production container may not have, and nobody would read them there.
 */
function mailProblems({ transport, smtpUrl }: Declared['mail'], isProduction: boolean): string[] {
  const { transport: transportSetting, smtpUrl: urlSetting } = settings.mail;
  if (transport === 'smtp' && !smtpUrl)
    return [`${transportSetting.env}: smtp needs ${urlSetting.env}`];
  if (!isProduction) return [];
  if (transport === 'outbox') {
    return [
      `${transportSetting.env}: outbox is for development; in production set ${urlSetting.env}, or ${transportSetting.env}=log to accept mail that only reaches the log`,
    ];
  }
  if (!smtpUrl && transport !== 'log') {
    return [
      `${urlSetting.env}: is required in production (or ${transportSetting.env}=log to accept mail that only reaches the log)`,
    ];
  }
  return [];
}

/** The declared production rules, then the one that needs both secrets. */
function productionProblems(
  readings: ReadonlyArray<{ readonly setting: Setting; readonly value: unknown }>,
  { accessSecret, refreshSecret }: Declared['jwt'],
): string[] {
  const problems = readings.flatMap(({ setting, value }) =>
    (setting.production?.check(value) ?? []).map((problem) => `${setting.env}: ${problem}`),
  );
  if (accessSecret && accessSecret === refreshSecret) {
    const { accessSecret: access, refreshSecret: refresh } = settings.jwt;
    problems.push(`${refresh.env}: must differ from ${access.env}`);
  }
  return problems;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
