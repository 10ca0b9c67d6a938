import { Router } from 'express';
import swaggerUi from 'swagger-ui-express';
import { buildOpenApiDocument, type OpenApiOptions } from './openapi';

/** /docs (Swagger UI) and /docs/openapi.json, built once from the route tables. */
export function createDocsRouter(options: OpenApiOptions): Router {
  const document = buildOpenApiDocument(options);
  const router = Router();
  router.get('/openapi.json', (_req, res) => {
    res.json(document);
  });
  router.use('/', swaggerUi.serve, swaggerUi.setup(document, { customSiteTitle: 'API docs' }));
  return router;
}
