import type { z } from 'zod';
import { CommonErrorCode, DomainError, type FieldIssue } from '../errors/domain-error';

/**
 * Parses untrusted input with a zod schema, returning typed data or throwing a
 * `VALIDATION_FAILED` whose details list every problem by field.
 *
 * The route adapter calls it on `req.body`, `req.params` and `req.query`, so handlers only ever
 * see validated, typed values.
 */
export function parseInput<Schema extends z.ZodType>(
  schema: Schema,
  input: unknown,
): z.output<Schema> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const details: FieldIssue[] = result.error.issues.map((issue) => ({
    field: issue.path.map(String).join('.'),
    message: issue.message,
  }));
  throw new DomainError(CommonErrorCode.VALIDATION_FAILED, 'The request is invalid', { details });
}
