import type { z } from 'zod';
import { badRequest, type FieldIssue } from './errors';

/**
 * Parses untrusted input with a zod schema, returning typed data or throwing a 400
 * `VALIDATION_FAILED` whose details list every problem by field.
 *
 * Routers call it on `req.body`, `req.params` or `req.query`, so handlers only ever see
 * validated, typed values.
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
  throw badRequest('The request is invalid', details);
}
