import { Router } from 'express';
import swaggerUi from 'swagger-ui-express';
import { buildOpenApiDocument } from './openapi';

/** /docs (Swagger UI) and /docs/openapi.json, built once. */
export function createDocsRouter(version: string): Router {
  const document = buildOpenApiDocument(version);
  const router = Router();
  router.get('/openapi.json', (_req, res) => {
    res.json(document);
  });
  router.use('/', swaggerUi.serve, swaggerUi.setup(document, { customSiteTitle: 'API docs' }));
  return router;
}
