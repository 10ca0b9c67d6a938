import { z } from 'zod';
import { errorStatusOf, titleOf, type ErrorCode } from '../http/error-statuses';
import { PROBLEM_CONTENT_TYPE, problemSchema } from '../http/problem';
import {
  errorCodesOf,
  fullPath,
  STACK_ERROR_CODES,
  type Authenticator,
  type Feature,
  type Route,
} from '../http/route';

type JsonSchema = Record<string, unknown>;

// Request bodies are described as clients send them, responses as the server writes them.
const input = (schema: z.ZodType): JsonSchema => strip(z.toJSONSchema(schema, { io: 'input' }));
const output = (schema: z.ZodType): JsonSchema => strip(z.toJSONSchema(schema, { io: 'output' }));
const strip = ({ $schema: _, ...schema }: JsonSchema): JsonSchema => schema;

const json = (schema: JsonSchema) => ({ content: { 'application/json': { schema } } });

/** Statuses every API route can answer with, documented once and referenced by each route. */
const SHARED_STATUSES = new Set([413, 415, 429, 503]);

export interface OpenApiOptions {
  version: string;
  features: readonly Feature[];
  authenticator: Authenticator;
}

/**
 * The OpenAPI 3.1 document of the API, walked from the features' route tables: every path,
 * method, request schema, reply schema and error code comes from the route declarations (OpenAPI
 * 3.1 uses JSON Schema 2020-12, which is what zod emits). No path is written by hand.
 */
export function buildOpenApiDocument({ version, features, authenticator }: OpenApiOptions) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const feature of features) {
    for (const route of feature.routes) {
      const path = fullPath(feature, route).replace(/:(\w+)/g, '{$1}');
      paths[path] ??= {};
      paths[path][route.method] = operation(feature, route, authenticator);
    }
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Express production template API',
      version,
      description:
        'Errors are RFC 9457 problem documents (`application/problem+json`) with a stable `code` and the `requestId`.',
    },
    tags: features.map(({ name, description }) => ({ name, description })),
    components: {
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      schemas: { Problem: output(problemSchema) },
      responses: Object.fromEntries(
        [...byStatus(STACK_ERROR_CODES)]
          .filter(([status]) => SHARED_STATUSES.has(status))
          .map(([status, codes]) => [sharedName(status), problemResponse(status, codes)]),
      ),
    },
    paths,
  };
}

function operation(feature: Feature, route: Route, authenticator: Authenticator) {
  const errors = [...byStatus(errorCodesOf(route, authenticator))].map(
    ([status, codes]): [number, unknown] => [
      status,
      SHARED_STATUSES.has(status)
        ? { $ref: `#/components/responses/${sharedName(status)}` }
        : problemResponse(status, codes),
    ],
  );
  const successes = Object.entries(route.responses).map(([status, spec]): [string, unknown] => [
    status,
    { description: spec.description, ...(spec.body ? json(output(spec.body)) : {}) },
  ]);
  return {
    tags: [feature.name],
    summary: route.summary,
    ...(route.description || route.permission
      ? {
          description: [
            route.permission ? `Requires the permission \`${route.permission}\`.` : '',
            route.description ?? '',
          ]
            .filter(Boolean)
            .join(' '),
        }
      : {}),
    ...(route.permission ? { 'x-permission': route.permission } : {}),
    ...(route.auth === 'bearer' ? { security: [{ bearerAuth: [] }] } : {}),
    ...(route.params || route.query
      ? {
          parameters: [...parameters(route.params, 'path'), ...parameters(route.query, 'query')],
        }
      : {}),
    ...(route.body
      ? { requestBody: { required: !route.bodyOptional, ...json(input(route.body)) } }
      : {}),
    responses: Object.fromEntries([...successes, ...errors]),
  };
}

/** One OpenAPI parameter per property of an object schema. */
function parameters(schema: z.ZodType | undefined, where: 'path' | 'query') {
  if (!schema) return [];
  const { properties = {}, required = [] } = input(schema) as {
    properties?: Record<string, JsonSchema>;
    required?: string[];
  };
  return Object.entries(properties).map(([name, property]) => ({
    name,
    in: where,
    required: where === 'path' || required.includes(name),
    schema: property,
  }));
}

function byStatus(codes: Iterable<ErrorCode>): Map<number, ErrorCode[]> {
  const grouped = new Map<number, ErrorCode[]>();
  for (const code of codes) {
    const status = errorStatusOf(code)?.status ?? 500;
    grouped.set(status, [...(grouped.get(status) ?? []), code]);
  }
  return new Map([...grouped].sort(([a], [b]) => a - b));
}

function problemResponse(status: number, codes: readonly ErrorCode[]) {
  return {
    description: `${titleOf(status)}. \`code\`: ${codes.map((code) => `\`${code}\``).join(', ')}`,
    content: { [PROBLEM_CONTENT_TYPE]: { schema: { $ref: '#/components/schemas/Problem' } } },
  };
}

const sharedName = (status: number) => titleOf(status).replace(/\W/g, '');
