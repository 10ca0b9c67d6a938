# Production image: build with the lockfile, keep only what production runs, run as `node`.
#   docker build -t express-template .
#   docker run --env-file .env.prod --read-only -p 127.0.0.1:3001:3001 express-template
# Migrations are a separate one-off step: `docker run --env-file .env.prod express-template
# node dist/db/cli/migrate.js` (docker-compose.prod.yml has it as the `migrate` service).
#
# Plain Dockerfile syntax, no `# syntax=` line and no `RUN --mount`: that line makes BuildKit
# download a frontend image from Docker Hub, which fails in air-gapped builds, and `--mount` needs
# BuildKit. This file builds with BuildKit and with the legacy builder. The packages are
# downloaded once (`pnpm fetch`, keyed on the lockfile alone), and both installs below link from
# that store offline.

ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS base
# corepack cannot always reach its download server; npm's registry is where pnpm lives anyway.
RUN npm install -g pnpm@10.34.9 && npm cache clean --force
WORKDIR /app

# Every package of the lockfile, into pnpm's store: source edits and package.json's scripts do not
# invalidate this layer.
FROM base AS fetch
COPY pnpm-lock.yaml ./
RUN pnpm fetch

FROM fetch AS deps
COPY package.json ./
# --ignore-scripts: the root postinstall generates the Prisma client, which the build does anyway.
RUN pnpm install --frozen-lockfile --offline --ignore-scripts

FROM deps AS build
COPY tsconfig.json tsconfig.build.json prisma.config.ts ./
COPY scripts/prisma-generate.mjs scripts/
COPY prisma ./prisma
COPY src ./src
# Generates the Prisma client into src/generated and compiles everything into dist/.
RUN pnpm build

# Production dependencies only, then pruned to what production loads (about 55 MB instead of
# 350 MB: see the script for what goes and why).
FROM fetch AS prod-deps
COPY package.json ./
COPY prisma/schema.prisma prisma/
COPY scripts/prune-production-modules.mjs scripts/
RUN pnpm install --frozen-lockfile --offline --prod --ignore-scripts \
 && node scripts/prune-production-modules.mjs

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    PORT=3001
WORKDIR /app
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
# The schema and migrations: `node dist/db/cli/migrate.js` applies them.
COPY prisma ./prisma
# Nothing is written under /app: production requires DATABASE_URL (the embedded database and the
# generated development secrets of DATA_DIR are for development), and logs go to stdout. The
# compose files run the container with a read-only root filesystem and a tmpfs on /tmp.
USER node
EXPOSE 3001
# Liveness only (the process and its event loop answer): Docker marks the container unhealthy,
# compose waits for healthy before starting nginx. Readiness is for the load balancer (nginx's
# list, managed by the deploy scripts, which probe /health/ready themselves).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3001)+'/health/live').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node is PID 1's direct command (no npm/pnpm wrapper), so SIGTERM reaches the server's graceful
# shutdown. Compose files add `init: true` (tini) to reap any stray child processes.
CMD ["node", "dist/server.js"]
