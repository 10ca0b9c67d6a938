# syntax=docker/dockerfile:1.7
# Production image: build with the lockfile, keep only production dependencies, run as `node`.
#   docker build -t express-template .
#   docker run --env-file .env.prod -p 3001:3001 express-template
# Migrations are a separate one-off step: `docker run --env-file .env.prod express-template
# node dist/db/cli/migrate.js` (docker-compose.prod.yml has it as the `migrate` service).

ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS base
# corepack cannot always reach its download server; npm's registry is where pnpm lives anyway.
RUN npm install -g pnpm@10.34.9 && npm cache clean --force
WORKDIR /app

# Dependencies first, so source edits do not invalidate this layer.
FROM base AS deps
COPY package.json pnpm-lock.yaml ./
COPY scripts/prisma-generate.mjs scripts/
COPY prisma ./prisma
COPY prisma.config.ts ./
RUN --mount=type=cache,id=pnpm-store,target=/root/.local/share/pnpm/store \
    pnpm install --frozen-lockfile

FROM deps AS build
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# Generates the Prisma client into src/generated and compiles everything into dist/.
RUN pnpm build

FROM base AS prod-deps
COPY package.json pnpm-lock.yaml ./
COPY scripts/prisma-generate.mjs scripts/
RUN --mount=type=cache,id=pnpm-store,target=/root/.local/share/pnpm/store \
    pnpm install --frozen-lockfile --prod

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    PORT=3001
WORKDIR /app
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
# The schema and migrations: `node dist/db/cli/migrate.js` applies them.
COPY prisma ./prisma
# The embedded database is for development; a mistaken run without DATABASE_URL fails at config
# validation in production. DATA_DIR must still be writable for that to be the error shown.
RUN mkdir -p /app/.data && chown node:node /app/.data
USER node
EXPOSE 3001
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3001)+'/health/live').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node is PID 1's direct command (no npm/pnpm wrapper), so SIGTERM reaches the server's graceful
# shutdown. Compose files add `init: true` (tini) to reap any stray child processes.
CMD ["node", "dist/server.js"]
