import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { ConfigError, loadConfig, PLACEHOLDER_SECRETS } from '../../src/config';

const STRONG_A = 'a'.repeat(16) + 'B'.repeat(16) + 'c'.repeat(16);
const STRONG_B = 'x'.repeat(16) + 'Y'.repeat(16) + 'z'.repeat(16);

let dataDir: string;
beforeEach(() => {
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'config-test-'));
});
afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

const load = (env: Record<string, string>) =>
  loadConfig({ env: { DATA_DIR: dataDir, ...env }, envFile: false });

function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    load(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected the configuration to be rejected');
}

const production = {
  NODE_ENV: 'production',
  DATABASE_URL: 'postgresql://app@db:5432/app',
  APP_PUBLIC_URL: 'https://app.example.com',
  JWT_ACCESS_SECRET: STRONG_A,
  JWT_REFRESH_SECRET: STRONG_B,
  SMTP_URL: 'smtps://app:secret@smtp.example.com:465',
  MAIL_FROM: 'Example <no-reply@example.com>',
};

describe('loadConfig', () => {
  it('starts on defaults with an empty environment', () => {
    const { config } = load({});
    expect(config).toMatchObject({
      env: 'development',
      port: 3001,
      host: '0.0.0.0',
      database: { url: undefined },
      redis: { url: undefined },
      http: { trustProxy: 0, bodyLimit: '100kb' },
      cluster: { enabled: false },
      memory: { monitoring: false, thresholdMb: 512, intervalMs: 60_000 },
      eventLoop: { delayThresholdMs: 50, windowMs: 10_000 },
    });
    expect(config.instanceId).toBe(`${os.hostname()}-${process.pid}`);
    expect(config.cluster.maxWorkers).toBe(os.availableParallelism());
  });

  it('returns a frozen config, nested objects included', () => {
    const { config } = load({});
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.http)).toBe(true);
    expect(Object.isFrozen(config.http.corsOrigins)).toBe(true);
  });

  it('parses the seeds cluster and monitoring variables', () => {
    const { config } = load({
      CLUSTER_MODE: 'true',
      MAX_WORKERS: '3',
      ENABLE_MEMORY_MONITORING: '1',
      MEMORY_THRESHOLD_MB: '256',
      MEMORY_MONITOR_INTERVAL_MS: '30000',
      EVENT_LOOP_DELAY_THRESHOLD_MS: '100',
      EVENT_LOOP_WINDOW_MS: '1000',
      MAX_OLD_SPACE_SIZE: '1024',
      WORKER_MEMORY_LIMIT_MB: '700',
    });
    expect(config.cluster).toEqual({
      enabled: true,
      maxWorkers: 3,
      maxOldSpaceMb: 1024,
      workerMemoryLimitMb: 700,
    });
    expect(config.memory).toEqual({ monitoring: true, thresholdMb: 256, intervalMs: 30_000 });
    expect(config.eventLoop).toEqual({ delayThresholdMs: 100, windowMs: 1_000 });
  });

  it('has rate limits and a Redis key prefix by default, each overridable', () => {
    expect(load({}).config).toMatchObject({
      redis: { keyPrefix: '' },
      rateLimit: {
        api: { limit: 300, windowMs: 60_000 },
        auth: { limit: 20, windowMs: 900_000 },
        authEmail: { limit: 5, windowMs: 900_000 },
        refresh: { limit: 60, windowMs: 900_000 },
        ipv6Subnet: 56,
      },
    });
    const { config } = load({
      REDIS_KEY_PREFIX: 'shop:',
      RATE_LIMIT_API_MAX: '10',
      RATE_LIMIT_API_WINDOW_MS: '1000',
      RATE_LIMIT_AUTH_EMAIL_MAX: '3',
      RATE_LIMIT_AUTH_WINDOW_MS: '60000',
      RATE_LIMIT_IPV6_SUBNET: '64',
    });
    expect(config.redis.keyPrefix).toBe('shop:');
    expect(config.rateLimit.api).toEqual({ limit: 10, windowMs: 1_000 });
    expect(config.rateLimit.authEmail).toEqual({ limit: 3, windowMs: 60_000 });
    expect(config.rateLimit.ipv6Subnet).toBe(64);
  });

  it('rejects a rate limit of 0, a window the memory store cannot time, and odd key prefixes', () => {
    const problems = problemsOf({
      RATE_LIMIT_API_MAX: '0',
      RATE_LIMIT_REFRESH_WINDOW_MS: String(2 ** 31),
      RATE_LIMIT_IPV6_SUBNET: '128',
      REDIS_KEY_PREFIX: 'my app*',
    });
    expect(problems).toEqual([
      expect.stringMatching(/^REDIS_KEY_PREFIX: /),
      'RATE_LIMIT_API_MAX: must be at least 1',
      expect.stringMatching(/^RATE_LIMIT_REFRESH_WINDOW_MS: must be at most 2147483647/),
      'RATE_LIMIT_IPV6_SUBNET: must be at most 64',
    ]);
  });

  it('splits FRONTEND_URL into a CORS allowlist', () => {
    const { config } = load({ FRONTEND_URL: 'https://a.example.com, https://b.example.com ,' });
    expect(config.http.corsOrigins).toEqual(['https://a.example.com', 'https://b.example.com']);
  });

  it('allows localhost frontends by default outside production only', () => {
    expect(load({}).config.http.corsOrigins).toEqual([
      'http://localhost:3000',
      'http://localhost:5173',
    ]);
  });

  it('allows no cross-origin access in production unless FRONTEND_URL names the frontends', () => {
    expect(load(production).config.http.corsOrigins).toEqual([]);
    expect(
      load({ ...production, FRONTEND_URL: 'https://app.example.com' }).config.http.corsOrigins,
    ).toEqual(['https://app.example.com']);
  });

  it.each([
    ['a trailing slash', 'https://app.example.com/'],
    ['a path', 'https://app.example.com/app'],
    ['a wildcard', '*'],
    ['no scheme', 'app.example.com'],
    ['another scheme', 'ftp://app.example.com'],
  ])('refuses a FRONTEND_URL entry with %s: it would never match an Origin', (_case, entry) => {
    expect(problemsOf({ FRONTEND_URL: `https://ok.example.com,${entry}` })).toEqual([
      expect.stringMatching(
        new RegExp(`^FRONTEND_URL: "${entry.replace(/[.*/]/g, '\\$&')}" is not an origin`),
      ),
    ]);
  });

  it('reports every invalid variable, one line each, naming the variable', () => {
    const problems = problemsOf({
      PORT: 'eighty',
      TRUST_PROXY: 'true',
      LOG_LEVEL: 'loud',
      CLUSTER_MODE: 'yes',
      DATABASE_URL: 'mysql://x',
    });
    expect(problems).toHaveLength(5);
    expect(problems.find((p) => p.startsWith('PORT:'))).toMatch(/number/);
    expect(problems.find((p) => p.startsWith('TRUST_PROXY:'))).toMatch(/number of proxies/);
    expect(problems.find((p) => p.startsWith('LOG_LEVEL:'))).toBeDefined();
    expect(problems.find((p) => p.startsWith('CLUSTER_MODE:'))).toMatch(/true or false/);
    expect(problems.find((p) => p.startsWith('DATABASE_URL:'))).toMatch(/postgresql:/);
    for (const problem of problems) expect(problem).not.toContain('\n');
  });

  it('rejects TRUST_PROXY=true, which would let clients choose their own IP', () => {
    expect(problemsOf({ TRUST_PROXY: 'true' })[0]).toMatch(/^TRUST_PROXY:/);
    expect(load({ TRUST_PROXY: '1' }).config.http.trustProxy).toBe(1);
  });

  it('reads a .env file, with real environment variables taking precedence', () => {
    const file = path.join(dataDir, '.env');
    writeFileSync(file, 'PORT=4000\nLOG_LEVEL=debug\n');
    const { config } = loadConfig({ env: { DATA_DIR: dataDir, LOG_LEVEL: 'warn' }, envFile: file });
    expect(config.port).toBe(4000);
    expect(config.log.level).toBe('warn');
  });
});

describe('graceful shutdown settings', () => {
  it('leaves the password hashing concurrency to the hasher unless set, and bounds it', () => {
    expect(load({}).config.auth.passwordHashConcurrency).toBeUndefined();
    expect(load({ PASSWORD_HASH_CONCURRENCY: '3' }).config.auth.passwordHashConcurrency).toBe(3);
    expect(problemsOf({ PASSWORD_HASH_CONCURRENCY: '0' })).toEqual([
      'PASSWORD_HASH_CONCURRENCY: must be at least 1',
    ]);
  });

  it('drains for 5 s by default in production, so load balancers see readiness fail first', () => {
    expect(load(production).config.shutdown).toEqual({ timeoutMs: 10_000, drainDelayMs: 5_000 });
  });

  it('does not drain by default outside production, where no load balancer is watching', () => {
    expect(load({}).config.shutdown).toEqual({ timeoutMs: 10_000, drainDelayMs: 0 });
    expect(load({ NODE_ENV: 'test' }).config.shutdown.drainDelayMs).toBe(0);
  });

  it('takes an explicit drain delay in any environment', () => {
    expect(load({ SHUTDOWN_DRAIN_DELAY_MS: '0', ...production }).config.shutdown.drainDelayMs).toBe(
      0,
    );
    expect(load({ SHUTDOWN_DRAIN_DELAY_MS: '1500' }).config.shutdown.drainDelayMs).toBe(1_500);
  });

  it('rejects a drain delay that leaves no time within the shutdown timeout', () => {
    expect(problemsOf({ SHUTDOWN_DRAIN_DELAY_MS: '10000' })).toEqual([
      expect.stringMatching(/^SHUTDOWN_DRAIN_DELAY_MS: must be shorter than SHUTDOWN_TIMEOUT_MS/),
    ]);
    expect(problemsOf({ SHUTDOWN_DRAIN_DELAY_MS: '-1' })[0]).toMatch(
      /^SHUTDOWN_DRAIN_DELAY_MS: must be at least 0/,
    );
  });
});

describe('metrics access settings', () => {
  it('serves metrics to this machine only when no restriction is configured', () => {
    expect(load({}).config.metrics).toEqual({ token: undefined, allow: ['127.0.0.0/8', '::1'] });
    expect(load(production).config.metrics.allow).toEqual(['127.0.0.0/8', '::1']);
  });

  it('lets a token alone open metrics to any address that presents it', () => {
    const token = 'a-long-enough-metrics-token';
    expect(load({ METRICS_TOKEN: token }).config.metrics).toEqual({ token, allow: undefined });
  });

  it('parses METRICS_ALLOW into a list of addresses and ranges', () => {
    expect(load({ METRICS_ALLOW: ' 10.0.0.0/8, ::1 ,' }).config.metrics.allow).toEqual([
      '10.0.0.0/8',
      '::1',
    ]);
  });

  it('names each invalid METRICS_ALLOW entry, and refuses a short token', () => {
    const problems = problemsOf({ METRICS_ALLOW: '10.0.0.0/8,intranet', METRICS_TOKEN: 'short' });
    expect(problems).toEqual([
      expect.stringMatching(/^METRICS_TOKEN: must be at least 16 characters/),
      expect.stringMatching(/^METRICS_ALLOW: "intranet" is not an IP address or CIDR range/),
    ]);
  });
});

describe('production secrets', () => {
  it('accepts strong, distinct secrets and a database URL', () => {
    const { config, warnings } = load(production);
    expect(config.isProduction).toBe(true);
    expect(config.jwt).toMatchObject({ accessSecret: STRONG_A, refreshSecret: STRONG_B });
    expect(warnings).toEqual([]);
  });

  it('turns the API docs off in production unless asked for', () => {
    expect(load(production).config.apiDocs.enabled).toBe(false);
    expect(load({ ...production, API_DOCS_ENABLED: 'true' }).config.apiDocs.enabled).toBe(true);
    expect(load({}).config.apiDocs.enabled).toBe(true);
  });

  it('requires DATABASE_URL, both secrets and APP_PUBLIC_URL, listing each missing one', () => {
    const problems = problemsOf({ NODE_ENV: 'production' });
    expect(problems).toEqual([
      expect.stringMatching(/^DATABASE_URL: is required in production/),
      'JWT_ACCESS_SECRET: is required in production',
      'JWT_REFRESH_SECRET: is required in production',
      expect.stringMatching(/^APP_PUBLIC_URL: is required in production/),
      expect.stringMatching(/^MAIL_FROM: is required in production/),
      expect.stringMatching(/^SMTP_URL: is required in production \(or MAIL_TRANSPORT=log/),
    ]);
  });

  it('rejects a secret shorter than 32 bytes', () => {
    expect(problemsOf({ ...production, JWT_ACCESS_SECRET: 'short-secret' })).toEqual([
      'JWT_ACCESS_SECRET: must be at least 32 bytes (got 12)',
    ]);
  });

  it('rejects identical access and refresh secrets', () => {
    expect(problemsOf({ ...production, JWT_REFRESH_SECRET: STRONG_A })).toEqual([
      'JWT_REFRESH_SECRET: must differ from JWT_ACCESS_SECRET',
    ]);
  });

  it.each(['.env.example', '.env.prod.example'])(
    'rejects every secret placeholder shipped in %s',
    (file) => {
      const example = parseEnv(readFileSync(path.resolve(__dirname, '../..', file), 'utf8'));
      for (const name of ['JWT_ACCESS_SECRET', 'JWT_REFRESH_SECRET'] as const) {
        const value = example[name];
        expect(value).toBeTruthy();
        expect(PLACEHOLDER_SECRETS).toContain(value);
        expect(problemsOf({ ...production, [name]: value as string })).toEqual([
          expect.stringMatching(new RegExp(`^${name}: is the placeholder`)),
        ]);
      }
    },
  );
});

describe('account lifecycle settings', () => {
  it('lets unconfirmed addresses sign in outside production only, unless told otherwise', () => {
    expect(load({}).config.account.allowUnverifiedSignIn).toBe(true);
    expect(load(production).config.account.allowUnverifiedSignIn).toBe(false);
    expect(
      load({ ...production, AUTH_ALLOW_UNVERIFIED_SIGN_IN: 'true' }).config.account
        .allowUnverifiedSignIn,
    ).toBe(true);
  });

  it('points links at a local front end in development, with 24 h, 30 min and 1 h lifetimes', () => {
    expect(load({}).config.account).toMatchObject({
      publicUrl: 'http://localhost:3000',
      verifyEmailPath: '/verify-email',
      resetPasswordPath: '/reset-password',
      confirmEmailPath: '/confirm-email',
      verificationTtlSeconds: 86_400,
      resetTtlSeconds: 1_800,
      emailChangeTtlSeconds: 3_600,
    });
  });

  it.each(['reset', 'https://x.example/reset', '/reset?x=1', '/reset#top'])(
    'refuses the link path %s (a path under APP_PUBLIC_URL, no query or fragment)',
    (value) => {
      expect(problemsOf({ ACCOUNT_RESET_PASSWORD_PATH: value })).toEqual([
        expect.stringMatching(/^ACCOUNT_RESET_PASSWORD_PATH: must be a path starting with \//),
      ]);
    },
  );

  it('refuses an APP_PUBLIC_URL that is not an http(s) URL', () => {
    expect(problemsOf({ APP_PUBLIC_URL: 'ftp://app.example.com' })).toEqual([
      expect.stringMatching(/^APP_PUBLIC_URL: must be a URL/),
    ]);
  });
});

describe('development secrets', () => {
  it('generates missing secrets once, keeps them private in the data folder, and warns', () => {
    const first = load({});
    const file = path.join(dataDir, 'dev-secrets.json');
    expect(first.warnings).toEqual([expect.stringContaining(file)]);
    expect(first.config.jwt.accessSecret).toHaveLength(64);
    expect(first.config.jwt.accessSecret).not.toBe(first.config.jwt.refreshSecret);
    expect(statSync(file).mode & 0o777).toBe(0o600);

    // Every later process (a restart, a cluster worker) gets the same secrets.
    const second = load({});
    expect(second.config.jwt).toEqual(first.config.jwt);
  });

  it('uses a secret that is set and generates only the missing one', () => {
    const { config } = load({ JWT_ACCESS_SECRET: STRONG_A });
    expect(config.jwt.accessSecret).toBe(STRONG_A);
    expect(config.jwt.refreshSecret).toHaveLength(64);
  });

  it('refuses a corrupted secrets file instead of silently replacing it', () => {
    writeFileSync(path.join(dataDir, 'dev-secrets.json'), '{"accessSecret": 1}');
    expect(problemsOf({})[0]).toMatch(/is not a secrets file written by this app/);
  });
});

describe('Redis Sentinel settings', () => {
  it('reads a Sentinel group: the sentinels, the primary name and both passwords', () => {
    const { config } = load({
      REDIS_SENTINELS: 's1:26379, 10.0.0.2:26380,[::1]:26381',
      REDIS_SENTINEL_MASTER: 'cache',
      REDIS_PASSWORD: 'data-password',
      REDIS_SENTINEL_PASSWORD: 'sentinel-password',
    });
    expect(config.redis).toMatchObject({
      url: undefined,
      sentinels: [
        { host: 's1', port: 26379 },
        { host: '10.0.0.2', port: 26380 },
        { host: '::1', port: 26381 },
      ],
      sentinelMaster: 'cache',
      password: 'data-password',
      sentinelPassword: 'sentinel-password',
    });
  });

  it('names the conventional primary `mymaster` unless told otherwise', () => {
    expect(load({ REDIS_SENTINELS: 's1:26379' }).config.redis.sentinelMaster).toBe('mymaster');
  });

  it('names each sentinel that is not host:port', () => {
    const problems = problemsOf({ REDIS_SENTINELS: 's1:26379,s2,s3:99999' });
    expect(problems).toEqual([
      expect.stringMatching(/^REDIS_SENTINELS: .*"s2" is not host:port/),
      expect.stringMatching(/^REDIS_SENTINELS: .*"s3:99999" is not host:port/),
    ]);
  });

  it('refuses both REDIS_URL and REDIS_SENTINELS, and a separate password with a URL', () => {
    expect(problemsOf({ REDIS_URL: 'redis://cache:6379', REDIS_SENTINELS: 's1:26379' })).toEqual([
      expect.stringMatching(/^REDIS_SENTINELS: set either REDIS_URL .* not both/),
    ]);
    expect(problemsOf({ REDIS_URL: 'redis://cache:6379', REDIS_PASSWORD: 'pw' })).toEqual([
      expect.stringMatching(/^REDIS_PASSWORD: .*put the password in the URL/),
    ]);
  });
});

describe('read replica setting', () => {
  it('reads DATABASE_READ_URL beside DATABASE_URL, and refuses it without one', () => {
    const { config } = load({
      DATABASE_URL: 'postgresql://app@primary:5432/app',
      DATABASE_READ_URL: 'postgresql://app@replica:5432/app',
    });
    expect(config.database.readUrl).toBe('postgresql://app@replica:5432/app');
    expect(problemsOf({ DATABASE_READ_URL: 'postgresql://app@replica:5432/app' })).toEqual([
      'DATABASE_READ_URL: needs DATABASE_URL (the primary it replicates)',
    ]);
  });
});

describe('mail settings', () => {
  const { SMTP_URL: _smtpUrl, ...productionWithoutSmtp } = production;

  it('writes mail to the development outbox without SMTP_URL, and sends through SMTP with it', () => {
    expect(load({}).config.mail).toMatchObject({
      transport: 'outbox',
      smtpUrl: undefined,
      from: 'Express Template <no-reply@localhost>',
      pollIntervalMs: 1000,
      maxAttempts: 12,
    });
    expect(load({ SMTP_URL: 'smtp://127.0.0.1:1025' }).config.mail.transport).toBe('smtp');
    expect(load(production).config.mail).toMatchObject({
      transport: 'smtp',
      smtpUrl: 'smtps://app:secret@smtp.example.com:465',
      from: 'Example <no-reply@example.com>',
    });
  });

  it('requires SMTP_URL in production unless MAIL_TRANSPORT=log accepts log-only mail, with a warning', () => {
    expect(problemsOf(productionWithoutSmtp)).toEqual([
      'SMTP_URL: is required in production (or MAIL_TRANSPORT=log to accept mail that only reaches the log)',
    ]);
    const logOnly = load({ ...productionWithoutSmtp, MAIL_TRANSPORT: 'log' });
    expect(logOnly.config.mail.transport).toBe('log');
    expect(logOnly.warnings).toEqual([
      expect.stringMatching(/^MAIL_TRANSPORT=log: no mail leaves/),
    ]);
    expect(problemsOf({ ...productionWithoutSmtp, MAIL_TRANSPORT: 'outbox' })).toEqual([
      expect.stringMatching(/^MAIL_TRANSPORT: outbox is for development/),
    ]);
  });

  it('refuses an SMTP transport without its URL, another scheme, and a From that is no address', () => {
    expect(problemsOf({ MAIL_TRANSPORT: 'smtp' })).toEqual(['MAIL_TRANSPORT: smtp needs SMTP_URL']);
    expect(problemsOf({ SMTP_URL: 'http://mail.example.com' })).toEqual([
      'SMTP_URL: must be a URL starting with smtp:// or smtps://',
    ]);
    expect(problemsOf({ MAIL_TRANSPORT: 'sendmail' })).toEqual([
      'MAIL_TRANSPORT: must be smtp, outbox or log',
    ]);
    expect(problemsOf({ MAIL_FROM: 'no-reply' })).toEqual([
      expect.stringMatching(/^MAIL_FROM: must be an address/),
    ]);
    expect(load({ MAIL_FROM: 'no-reply@example.com' }).config.mail.from).toBe(
      'no-reply@example.com',
    );
  });
});
