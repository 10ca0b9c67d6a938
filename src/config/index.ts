/**
 * The process configuration: each setting declared once in `settings.ts` (variable, format,
 * default, production rule, doc), read and checked by `loadConfig` into a typed, frozen `Config`.
 */
export { ConfigError } from './config-error';
export {
  loadConfig,
  type Config,
  type LoadConfigOptions,
  type LoadedConfig,
  type MailTransportKind,
  type RateLimitPolicy,
} from './load-config';
export { LOOPBACK_ONLY, PLACEHOLDER_SECRETS } from './settings';
