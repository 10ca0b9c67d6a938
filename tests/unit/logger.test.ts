import { Writable } from 'node:stream';
import { createLogger } from '../../src/logger';

function capture() {
  let text = '';
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      text += chunk.toString();
      callback();
    },
  });
  return {
    logger: createLogger({ level: 'info', instanceId: 'web-1', destination }),
    text: () => text,
  };
}

describe('logger', () => {
  it('writes JSON lines carrying the instance id and pid', () => {
    const { logger, text } = capture();
    logger.info({ userId: 'u1' }, 'hello');
    const line = JSON.parse(text()) as Record<string, unknown>;
    expect(line).toMatchObject({
      level: 'info',
      instanceId: 'web-1',
      pid: process.pid,
      userId: 'u1',
      msg: 'hello',
    });
  });

  it('redacts credentials wherever a caller puts them', () => {
    const { logger, text } = capture();
    logger.info({
      password: 'hunter2-top',
      body: { password: 'hunter2-nested', refreshToken: 'rt-secret', currentPassword: 'old-pass' },
      headers: { authorization: 'Bearer abc.def.ghi', cookie: 'refresh=xyz', 'user-agent': 'curl' },
      accessToken: 'at-secret',
    });
    const out = text();
    for (const secret of [
      'hunter2',
      'rt-secret',
      'old-pass',
      'abc.def.ghi',
      'refresh=xyz',
      'at-secret',
    ]) {
      expect(out).not.toContain(secret);
    }
    expect(out).toContain('curl');
    expect(out).toContain('[redacted]');
  });
});
