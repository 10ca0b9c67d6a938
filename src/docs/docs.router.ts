import { Router } from 'express';
import { contentSecurityPolicy } from 'helmet';
import swaggerUi from 'swagger-ui-express';
import { buildOpenApiDocument, type OpenApiOptions } from './openapi';

/** /docs (Swagger UI) and /docs/openapi.json, built once from the route tables. */
export function createDocsRouter(options: OpenApiOptions): Router {
  const document = buildOpenApiDocument(options);
  const router = Router();
  router.get('/openapi.json', (_req, res) => {
    res.json(document);
  });
  // An HTML page with scripts and styles: helmet's default policy (same-origin scripts), in
  // place of the API's `default-src 'none'` (app.ts).
  router.use(
    '/',
    contentSecurityPolicy(),
    swaggerUi.serve,
    swaggerUi.setup(document, { customSiteTitle: 'API docs' }),
  );
  return router;
}
