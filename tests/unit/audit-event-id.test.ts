import { newAuditEventId } from '../../src/audit/audit-log';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('audit event ids', () => {
  it('are UUIDv7 carrying the time they were made', () => {
    const before = Date.now();
    const id = newAuditEventId();
    const after = Date.now();
    expect(id).toMatch(UUID_V7);
    const ms = parseInt(id.replace(/-/g, '').slice(0, 12), 16);
    expect(ms).toBeGreaterThanOrEqual(before);
    expect(ms).toBeLessThanOrEqual(after + 1);
  });

  it('sort in the order they were made, even thousands within one millisecond', () => {
    const ids = Array.from({ length: 10_000 }, () => newAuditEventId());
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
    for (const id of ids) expect(id).toMatch(UUID_V7);
  });
});
