import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Config } from '../config';
import { CommonErrorCode, DomainError } from '../errors/domain-error';
import { createIpAllowlist } from '../http/ip-allowlist';

/**
 * Guards the endpoints that describe the process's internals (`/health`, `/health/metrics`,
 * `/metrics`): versions, memory, traffic. The probes a load balancer needs are never guarded.
 *
 * Each configured restriction must pass: a client outside `allow` gets 403 whatever token it
 * shows, and with a token configured, a missing or wrong one gets 401. Adding one restriction
 * never loosens another. Addresses are matched against `req.ip`, which honours TRUST_PROXY, so
 * behind nginx it is the client's address, not nginx's.
 */
export function restrictMetricsAccess({ token, allow }: Config['metrics']): RequestHandler {
  const allowlist = allow ? createIpAllowlist(allow) : undefined;
  // Compared as digests: equal lengths for timingSafeEqual, and the token's length stays secret.
  const expected = token === undefined ? undefined : digest(token);
  return function metricsAccess(req, res, next) {
    if (allowlist && !allowlist.allows(req.ip)) {
      throw new DomainError(CommonErrorCode.FORBIDDEN, 'Metrics are not served to this address');
    }
    if (expected && !timingSafeEqual(digest(bearerToken(req.headers.authorization)), expected)) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="metrics"');
      throw new DomainError(CommonErrorCode.UNAUTHORIZED, 'A valid metrics token is required');
    }
    next();
  };
}

function bearerToken(header: string | undefined): string {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1] ?? '';
}

const digest = (value: string) => createHash('sha256').update(value).digest();
