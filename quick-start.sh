#!/usr/bin/env bash
# quick-start.sh: one entry point for running, testing and deploying this template.
#
#   ./quick-start.sh            interactive menu (when stdin is a terminal)
#   ./quick-start.sh <command>  run one command directly; ./quick-start.sh help lists them
#
# Before anything that needs the Node dependencies it checks Node.js (>= 20.19), makes sure pnpm
# exists (installing pnpm 10 when it does not) and runs `pnpm install --frozen-lockfile` only when
# node_modules is missing or older than package.json / pnpm-lock.yaml.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

readonly MIN_NODE_MAJOR=20
readonly MIN_NODE_MINOR=19
readonly PNPM_SPEC=pnpm@10

# How to run pnpm: filled in by ensure_pnpm (a command, or npx running a pinned pnpm).
PNPM=()

say() { printf '==> %s\n' "$*"; }
die() {
  printf 'quick-start: %s\n' "$*" >&2
  exit 1
}

usage() {
  cat <<'EOF'
Usage: ./quick-start.sh [command] [args...]

Commands:
  dev                       Development server with reload (pnpm dev): embedded PostgreSQL, no
                            Redis needed
  dev-cluster               Development server as a cluster of workers (pnpm dev:cluster)
  prod-cluster              Build, then run the production cluster locally (pnpm build &&
                            pnpm start:cluster)
  compose-dev               docker compose up --build (docker-compose.yml)
  compose-prod              docker compose -f docker-compose.prod.yml --env-file .env.prod
                            up --build
  deploy-rolling [args]     Rolling deploy: scripts/deploy-rolling.sh --driver compose|local
                            [args] <version> (--help lists them)
  deploy-blue-green [args]  Blue-green deploy: scripts/deploy-blue-green.sh, the same args
  migrate                   Apply database migrations (pnpm db:migrate; DATABASE_URL or the
                            embedded database)
  test [args]               Install missing system test binaries (nginx, PostgreSQL, Redis,
                            redis-sentinel, pgbouncer, docker-compose, shellcheck, chromium), start
                            a Docker engine when none answers and ../shared/docker-offline/engine.sh
                            is there, then run every test tier (pnpm test:all [args])
  bench                     Run the benchmarks (pnpm bench)
  mail                      A local mail catcher without Docker (maildev): prints the SMTP_URL
                            to give the app and the web UI's address (MAIL_CATCHER_SMTP_PORT,
                            MAIL_CATCHER_WEB_PORT: 1025 and 8025 by default)
  help                      Show this help

Without a command, and with a terminal on stdin, shows a menu.
EOF
}

# --- prerequisites -------------------------------------------------------------------------------

NODE_CHECKED=
ensure_node() {
  [ -z "$NODE_CHECKED" ] || return 0
  NODE_CHECKED=1
  if ! command -v node >/dev/null 2>&1; then
    die "Node.js is not installed. This project needs Node.js >= ${MIN_NODE_MAJOR}.${MIN_NODE_MINOR}; Node 24 LTS is recommended (https://nodejs.org, or 'nvm install 24': .nvmrc says 24)."
  fi
  local version major minor rest
  version="$(node -p 'process.versions.node')"
  major="${version%%.*}"
  rest="${version#*.}"
  minor="${rest%%.*}"
  if [ "$major" -lt "$MIN_NODE_MAJOR" ] || { [ "$major" -eq "$MIN_NODE_MAJOR" ] && [ "$minor" -lt "$MIN_NODE_MINOR" ]; }; then
    die "Node.js ${version} is too old: this project needs >= ${MIN_NODE_MAJOR}.${MIN_NODE_MINOR}; Node 24 LTS is recommended (https://nodejs.org, or 'nvm install 24')."
  fi
  say "Using Node.js ${version} ($(command -v node))"
  if [ "$major" -lt 24 ]; then
    say "Note: Node 24 LTS is recommended (Node ${major} is slower and past or near its end of life)"
  fi
}

# Package scripts call `pnpm` themselves (e.g. test:all runs `pnpm build && pnpm run jest`), so
# whatever pnpm we end up with must be reachable as `pnpm` on PATH, not just through $PNPM.
ensure_pnpm() {
  if command -v pnpm >/dev/null 2>&1; then
    PNPM=(pnpm)
    return
  fi
  # A pnpm installed by an earlier run but not on PATH: npm's global bin, or our npx shim.
  local global_bin shim_dir
  global_bin="$(npm prefix -g 2>/dev/null)/bin"
  shim_dir="$(pnpm_shim_dir)"
  if [ -x "$global_bin/pnpm" ]; then
    say "Using pnpm from ${global_bin} (npm's global bin directory, not on your PATH)"
    export PATH="$global_bin:$PATH"
    PNPM=(pnpm)
    return
  fi
  if [ -x "$shim_dir/pnpm" ]; then
    say "Using pnpm through npx (${shim_dir}/pnpm runs npx --yes ${PNPM_SPEC})"
    export PATH="$shim_dir:$PATH"
    PNPM=(pnpm)
    return
  fi

  say "pnpm not found: installing it (npm install -g ${PNPM_SPEC})"
  local log
  log="$(mktemp)"
  if npm install -g --no-fund --no-audit "$PNPM_SPEC" >"$log" 2>&1; then
    rm -f "$log"
    hash -r
    if command -v pnpm >/dev/null 2>&1; then
      PNPM=(pnpm)
      return
    fi
    global_bin="$(npm prefix -g 2>/dev/null)/bin"
    if [ -x "$global_bin/pnpm" ]; then
      say "pnpm installed in ${global_bin}, which is not on your PATH: using it from there (add it to PATH)"
      export PATH="$global_bin:$PATH"
      PNPM=(pnpm)
      return
    fi
  else
    grep -m 3 -E 'npm (error|ERR!)' "$log" | sed 's/^/    /' || true
    rm -f "$log"
  fi
  say "Global install failed (no permission?): running pnpm through npx instead (npx --yes ${PNPM_SPEC})"
  PNPM=(npx --yes "$PNPM_SPEC")
  # A `pnpm` command on PATH that runs npx, for the package scripts that call pnpm.
  mkdir -p "$shim_dir"
  printf '#!/bin/sh\nexec npx --yes %s "$@"\n' "$PNPM_SPEC" >"$shim_dir/pnpm"
  chmod +x "$shim_dir/pnpm"
  export PATH="$shim_dir:$PATH"
}

pnpm_shim_dir() { printf '%s/quick-start/bin' "${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}"; }

# True when node_modules is missing or older than package.json or pnpm-lock.yaml.
deps_stale() {
  local marker=node_modules/.modules.yaml
  [ -f "$marker" ] || return 0
  [ package.json -nt "$marker" ] && return 0
  [ -f pnpm-lock.yaml ] && [ pnpm-lock.yaml -nt "$marker" ] && return 0
  return 1
}

ensure_deps() {
  ensure_node
  ensure_pnpm
  say "Using pnpm $("${PNPM[@]}" --version) (${PNPM[*]})"
  if deps_stale; then
    say "Installing dependencies (pnpm install --frozen-lockfile): node_modules is missing or older than the lockfile"
    "${PNPM[@]}" install --frozen-lockfile
    # pnpm leaves .modules.yaml untouched when nothing changed; touch it so the next run skips.
    touch node_modules/.modules.yaml
  else
    say "Dependencies are up to date (node_modules is newer than package.json and pnpm-lock.yaml)"
  fi
}

# --- commands ------------------------------------------------------------------------------------

cmd_dev() {
  ensure_deps
  local port="${PORT:-3001}"
  if [ -n "${DATABASE_URL:-}" ]; then
    say "Database: PostgreSQL at DATABASE_URL"
  else
    say "Database: embedded PostgreSQL (PGlite, data in .data/); set DATABASE_URL (environment or .env) for a real server"
  fi
  if [ -n "${REDIS_URL:-}" ]; then
    say "Rate limiter: Redis at REDIS_URL"
  else
    say "Rate limiter: in memory; set REDIS_URL (environment or .env) to use Redis"
  fi
  if [ -n "${SMTP_URL:-}" ]; then
    say "Mail: sent through SMTP_URL"
  else
    say "Mail: written to .data/outbox/ (one log line each, with its links); set SMTP_URL, e.g. to './quick-start.sh mail' in another terminal"
  fi
  say "Starting the development server (pnpm dev, reloads on change): http://localhost:${port}/health/live"
  exec "${PNPM[@]}" dev
}

cmd_dev_cluster() {
  ensure_deps
  say "Starting the development cluster (pnpm dev:cluster)"
  exec "${PNPM[@]}" dev:cluster
}

cmd_prod_cluster() {
  ensure_deps
  say "Building (pnpm build): compiles TypeScript to dist/"
  "${PNPM[@]}" build
  say "Starting the production cluster locally (pnpm start:cluster)"
  exec "${PNPM[@]}" start:cluster
}

cmd_compose() {
  local file="$1"
  shift
  if [ ! -f "$file" ]; then
    die "${file} is missing from this checkout."
  fi
  if ! command -v docker >/dev/null 2>&1; then
    die "docker is not installed: Docker Engine with the compose plugin is needed (https://docs.docker.com/engine/install/)."
  fi
  if ! docker info >/dev/null 2>&1; then
    die "no Docker engine is reachable ('docker info' failed): start Docker (or check your permissions on its socket) and try again."
  fi
  local compose
  if docker compose version >/dev/null 2>&1; then
    compose=(docker compose)
  elif command -v docker-compose >/dev/null 2>&1; then
    compose=(docker-compose)
  else
    die "the docker compose plugin is not installed (https://docs.docker.com/compose/install/)."
  fi
  say "Building and starting the stack (${compose[*]} -f ${file} $* up --build)"
  exec "${compose[@]}" -f "$file" "$@" up --build
}

cmd_compose_prod() {
  if [ ! -f .env.prod ]; then
    die "docker-compose.prod.yml reads .env.prod, which does not exist: cp .env.prod.example .env.prod, then replace every CHANGE_ME (openssl rand -base64 48 for each secret)."
  fi
  cmd_compose docker-compose.prod.yml --env-file .env.prod
}

# Both deploy scripts take the same arguments; with none, at a terminal, asks for them.
cmd_deploy() {
  local script="scripts/deploy-$1.sh" line args=()
  shift
  if [ "$#" -eq 0 ] && [ -t 0 ]; then
    echo "Arguments for ${script} (--driver is required), for example:"
    echo "  --driver compose v1.4.0     (production: the image tag to deploy)"
    echo "  --driver local --env-file .env.prod --nginx-prefix /etc/nginx .   (this built checkout)"
    echo "  --help                      (every option)"
    read -r -p "> " line || exit 0
    read -r -a args <<<"$line"
    set -- "${args[@]}"
  fi
  say "Running ${script} $*"
  exec "./${script}" "$@"
}

cmd_migrate() {
  ensure_deps
  if [ -n "${DATABASE_URL:-}" ]; then
    say "Applying migrations (pnpm db:migrate) to PostgreSQL at DATABASE_URL"
  else
    say "Applying migrations (pnpm db:migrate) to the embedded database in .data/ (set DATABASE_URL for a server)"
  fi
  exec "${PNPM[@]}" db:migrate
}

# The offline Docker engine script of this template's CI machines, beside the clone: it installs
# Debian's docker.io, starts it and builds stand-ins for the base images (no registry there).
readonly OFFLINE_ENGINE=../shared/docker-offline/engine.sh
# Set when this run started the engine, which it then stops when the tests are done.
ENGINE_STARTED=

# The container tier needs a Docker engine with the compose plugin. With one answering, nothing to
# do (base images are pulled by docker itself); without one, the offline engine script starts one
# when it is there. Otherwise the tier fails and says how to get an engine: never a silent skip.
ensure_container_engine() {
  local answering=
  docker info >/dev/null 2>&1 && docker compose version >/dev/null 2>&1 && answering=1
  if [ -f "$OFFLINE_ENGINE" ]; then
    [ -n "$answering" ] || ENGINE_STARTED=1
    say "Preparing the Docker engine for the container tier (${OFFLINE_ENGINE} up .: install, start, base images)"
    bash "$OFFLINE_ENGINE" up . || say "Warning: ${OFFLINE_ENGINE} failed: the container tier will fail"
  elif [ -n "$answering" ]; then
    say "Docker engine: $(docker info --format 'Docker {{.ServerVersion}}' 2>/dev/null), compose $(docker compose version --short 2>/dev/null)"
  else
    say "Warning: no Docker engine answers ('docker info'): the container tier will fail and say how to get one"
  fi
}

cmd_test() {
  ensure_node
  say "Checking the system binaries the e2e tests run (scripts/install-system-deps.sh)"
  if ! ./scripts/install-system-deps.sh; then
    die "the e2e tests need nginx, PostgreSQL, Redis (with redis-sentinel), PgBouncer, docker-compose, shellcheck and chromium: install them as shown above (or run 'pnpm test' for the unit and integration tiers only)."
  fi
  ensure_container_engine
  ensure_deps
  say "Running every test tier (pnpm test:all): build, unit, integration, e2e, container"
  local status=0
  "${PNPM[@]}" test:all "$@" || status=$?
  if [ -n "$ENGINE_STARTED" ]; then
    say "Stopping the Docker engine this run started (${OFFLINE_ENGINE} stop)"
    bash "$OFFLINE_ENGINE" stop || true
  fi
  return "$status"
}

# Mailpit's ports, so the address is the same as with docker-compose.yml's mail catcher.
cmd_mail() {
  ensure_deps
  local smtp_port="${MAIL_CATCHER_SMTP_PORT:-1025}" web_port="${MAIL_CATCHER_WEB_PORT:-8025}"
  say "Starting a local mail catcher (maildev, a development dependency): it keeps and shows every message, delivers none"
  say "  Give the app:  SMTP_URL=smtp://127.0.0.1:${smtp_port}   (in .env, or: SMTP_URL=smtp://127.0.0.1:${smtp_port} ./quick-start.sh dev)"
  say "  Read mail at:  http://127.0.0.1:${web_port}"
  exec node node_modules/maildev/bin/maildev --ip 127.0.0.1 --smtp "$smtp_port" --web "$web_port"
}

cmd_bench() {
  ensure_deps
  say "Running the benchmarks (pnpm bench)"
  exec "${PNPM[@]}" bench
}

run_command() {
  local cmd="$1"
  shift
  case "$cmd" in
    dev) cmd_dev ;;
    dev-cluster) cmd_dev_cluster ;;
    prod-cluster) cmd_prod_cluster ;;
    compose-dev) cmd_compose docker-compose.yml ;;
    compose-prod) cmd_compose_prod ;;
    deploy-rolling) cmd_deploy rolling "$@" ;;
    deploy-blue-green) cmd_deploy blue-green "$@" ;;
    migrate) cmd_migrate ;;
    test) cmd_test "$@" ;;
    bench) cmd_bench ;;
    mail) cmd_mail ;;
    help | -h | --help) usage ;;
    *)
      printf 'quick-start: unknown command: %s\n\n' "$cmd" >&2
      usage >&2
      exit 2
      ;;
  esac
}

menu() {
  local choice
  while true; do
    cat <<'EOF'

What do you want to run?
  1) Development server (embedded PostgreSQL, reloads on change)
  2) Development cluster
  3) Production cluster locally (build, then start)
  4) docker compose up (dev)
  5) docker compose up (prod)
  6) Rolling deploy (one replica at a time)
  7) Blue-green deploy (a whole new set, then the switch)
  8) Apply database migrations
  9) Run tests (every tier)
 10) Benchmark
 11) Local mail catcher (SMTP + web UI, no Docker)
 12) Quit
EOF
    if ! read -r -p 'Choice [1-12]: ' choice; then
      echo
      exit 0
    fi
    case "$choice" in
      1) run_command dev ;;
      2) run_command dev-cluster ;;
      3) run_command prod-cluster ;;
      4) run_command compose-dev ;;
      5) run_command compose-prod ;;
      6) run_command deploy-rolling ;;
      7) run_command deploy-blue-green ;;
      8) run_command migrate ;;
      9) run_command test ;;
      10) run_command bench ;;
      11) run_command mail ;;
      12 | q | Q) exit 0 ;;
      *)
        echo "Please enter a number from 1 to 12."
        continue
        ;;
    esac
    return
  done
}

if [ "$#" -gt 0 ]; then
  run_command "$@"
elif [ -t 0 ]; then
  menu
else
  echo "quick-start: no command given and stdin is not a terminal, so no menu." >&2
  usage >&2
  exit 2
fi
