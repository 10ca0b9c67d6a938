import { EventEmitter } from 'node:events';
import { createLogger } from '../../src/logger';
import { RedisAvailability } from '../../src/rate-limit/redis-availability';
import { LogCapture } from '../../harness/log-capture';
import { eventually } from '../../harness/eventually';

/** A Redis connection's events and status, driven by the test. */
function fakeRedis() {
  return Object.assign(new EventEmitter(), { status: 'ready' });
}

/** What RedisAvailability reads of a connection. */
type Watched = ConstructorParameters<typeof RedisAvailability>[0]['redis'];

async function availableAvailability(options: { failureThreshold?: number } = {}) {
  const redis = fakeRedis();
  const logs = new LogCapture();
  const logger = createLogger({ level: 'info', instanceId: 't', destination: logs.stream() });
  const availability = new RedisAvailability({
    redis: redis as unknown as Watched,
    logger,
    startupGraceMs: 0,
    retryIntervalMs: 60_000,
    ...options,
  });
  availability.register({ connect: () => Promise.resolve() });
  availability.start();
  await eventually(() => availability.usingRedis, { describe: 'counting in Redis' });
  return { availability, redis, logs };
}

describe('RedisAvailability', () => {
  it('keeps counting in Redis after one failed (slow) command, and switches after three in a row', async () => {
    const { availability } = await availableAvailability();
    try {
      availability.reportFailure(new Error('Command timed out'));
      expect(availability.usingRedis).toBe(true);
      availability.reportSuccess();
      availability.reportFailure(new Error('Command timed out'));
      availability.reportFailure(new Error('Command timed out'));
      // Not three in a row: a success came between.
      expect(availability.usingRedis).toBe(true);
      availability.reportFailure(new Error('Command timed out'));
      expect(availability.usingRedis).toBe(false);
      expect(availability.degradedSince).toBeInstanceOf(Date);
    } finally {
      availability.close();
    }
  });

  it('switches at once when the connection closes', async () => {
    const { availability, redis } = await availableAvailability();
    try {
      redis.status = 'reconnecting';
      redis.emit('close');
      expect(availability.usingRedis).toBe(false);
      redis.status = 'ready';
      redis.emit('ready');
      await eventually(() => availability.usingRedis, { describe: 'back to Redis' });
    } finally {
      availability.close();
    }
  });
});
