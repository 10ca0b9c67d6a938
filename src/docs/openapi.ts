import { z } from 'zod';
import {
  authResponse,
  changePasswordBody,
  loginBody,
  refreshBody,
  registerBody,
  sessionsResponse,
  userResponse,
} from '../auth/auth.schemas';
import { AuthErrorCode } from '../auth/auth-errors';
import { ErrorCode } from '../http/errors';

type JsonSchema = Record<string, unknown>;

// Request bodies are described as clients send them, responses as the server writes them.
const input = (schema: z.ZodType): JsonSchema => strip(z.toJSONSchema(schema, { io: 'input' }));
const output = (schema: z.ZodType): JsonSchema => strip(z.toJSONSchema(schema, { io: 'output' }));
const strip = ({ $schema: _, ...schema }: JsonSchema): JsonSchema => schema;

const json = (schema: JsonSchema) => ({ content: { 'application/json': { schema } } });
const problem = (description: string, codes: string[]) => ({
  description: `${description}. \`code\`: ${codes.map((code) => `\`${code}\``).join(', ')}`,
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
});

const validation = problem('Invalid input', [
  ErrorCode.VALIDATION_FAILED,
  ErrorCode.MALFORMED_JSON,
]);
const bearer = [{ bearerAuth: [] }];
const unauthenticated = problem('Missing, invalid or expired access token', [
  AuthErrorCode.AUTH_REQUIRED,
  AuthErrorCode.TOKEN_INVALID,
  AuthErrorCode.TOKEN_EXPIRED,
]);

/**
 * The OpenAPI 3.1 document of the API, generated from the zod schemas the routers validate
 * with (OpenAPI 3.1 uses JSON Schema 2020-12, which is what zod emits).
 */
export function buildOpenApiDocument(version: string) {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Express production template API',
      version,
      description:
        'Errors are RFC 9457 problem documents (`application/problem+json`) with a stable `code` and the `requestId`.',
    },
    components: {
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      schemas: {
        Problem: {
          type: 'object',
          required: ['type', 'title', 'status', 'detail', 'code', 'requestId', 'instance'],
          properties: {
            type: { type: 'string' },
            title: { type: 'string' },
            status: { type: 'integer' },
            detail: { type: 'string' },
            code: { type: 'string' },
            requestId: { type: 'string' },
            instance: { type: 'string' },
            errors: {
              type: 'array',
              items: {
                type: 'object',
                properties: { field: { type: 'string' }, message: { type: 'string' } },
              },
            },
          },
        },
      },
    },
    paths: {
      '/api/auth/register': {
        post: {
          summary: 'Create an account and start a session',
          requestBody: { required: true, ...json(input(registerBody)) },
          responses: {
            201: {
              description: 'Created; the refresh token is also set as an httpOnly cookie',
              ...json(output(authResponse)),
            },
            400: validation,
            409: problem('Email already registered', [AuthErrorCode.EMAIL_TAKEN]),
          },
        },
      },
      '/api/auth/login': {
        post: {
          summary: 'Start a session',
          requestBody: { required: true, ...json(input(loginBody)) },
          responses: {
            200: { description: 'Logged in', ...json(output(authResponse)) },
            400: validation,
            401: problem('Wrong email or password (deliberately indistinguishable)', [
              AuthErrorCode.INVALID_CREDENTIALS,
            ]),
          },
        },
      },
      '/api/auth/refresh': {
        post: {
          summary: 'Exchange a refresh token for a new pair (the presented one is spent)',
          description:
            'The token comes from the body or the `refresh_token` cookie. Presenting a spent token revokes its session.',
          requestBody: { required: false, ...json(input(refreshBody)) },
          responses: {
            200: { description: 'A new token pair', ...json(output(authResponse)) },
            400: validation,
            401: problem('Refresh refused', [
              AuthErrorCode.TOKEN_INVALID,
              AuthErrorCode.TOKEN_EXPIRED,
              AuthErrorCode.REFRESH_TOKEN_REUSED,
              AuthErrorCode.REFRESH_TOKEN_REVOKED,
              AuthErrorCode.SESSION_EXPIRED,
            ]),
          },
        },
      },
      '/api/auth/logout': {
        post: {
          summary: 'End the session of a refresh token',
          requestBody: { required: false, ...json(input(refreshBody)) },
          responses: {
            204: { description: 'Logged out (also when already logged out)' },
            400: validation,
            401: problem('Invalid token', [AuthErrorCode.TOKEN_INVALID]),
          },
        },
      },
      '/api/auth/logout-all': {
        post: {
          summary: "End every session of the token's user",
          security: bearer,
          responses: { 204: { description: 'All sessions revoked' }, 401: unauthenticated },
        },
      },
      '/api/auth/me': {
        get: {
          summary: 'The current user',
          security: bearer,
          responses: {
            200: { description: 'The user', ...json(output(z.object({ user: userResponse }))) },
            401: problem('Not authenticated, or the account is gone', [
              AuthErrorCode.AUTH_REQUIRED,
              AuthErrorCode.TOKEN_INVALID,
              AuthErrorCode.TOKEN_EXPIRED,
              AuthErrorCode.ACCOUNT_NOT_FOUND,
            ]),
          },
        },
      },
      '/api/auth/change-password': {
        post: {
          summary: 'Change the password; every other session is revoked',
          security: bearer,
          requestBody: { required: true, ...json(input(changePasswordBody)) },
          responses: {
            204: { description: 'Changed' },
            400: validation,
            401: unauthenticated,
            403: problem('Wrong current password', [AuthErrorCode.INVALID_CURRENT_PASSWORD]),
          },
        },
      },
      '/api/auth/sessions': {
        get: {
          summary: "The user's active sessions",
          security: bearer,
          responses: {
            200: {
              description: 'Sessions, most recently used first',
              ...json(output(sessionsResponse)),
            },
            401: unauthenticated,
          },
        },
      },
      '/api/auth/sessions/{id}': {
        delete: {
          summary: 'Revoke one session',
          security: bearer,
          parameters: [
            { name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } },
          ],
          responses: {
            204: { description: 'Revoked' },
            400: validation,
            401: unauthenticated,
            404: problem('No such active session of this user', [AuthErrorCode.SESSION_NOT_FOUND]),
          },
        },
      },
    },
  };
}
