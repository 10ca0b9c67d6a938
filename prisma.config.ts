import { defineConfig } from 'prisma/config';

/**
 * Configuration for the Prisma CLI (`prisma generate`, and `prisma migrate deploy` for those who
 * can download Prisma's native engine). The app itself never reads this file: it builds its
 * driver adapter in src/db/database.ts, and `pnpm db:migrate` uses the WebAssembly engine.
 */
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? '' },
});
