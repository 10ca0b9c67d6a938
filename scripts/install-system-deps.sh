#!/usr/bin/env bash
# Installs the system binaries the e2e test tier runs for real, when they are missing:
#   nginx            (Debian package nginx)
#   PostgreSQL       (Debian package postgresql; the e2e harness uses initdb/pg_ctl from
#                     /usr/lib/postgresql/<version>/bin)
#   redis-server     (Debian package redis-server)
#   redis-sentinel   (Debian package redis-sentinel: the Sentinel failover test runs three)
#   pgbouncer        (Debian package pgbouncer: the connection-pooler test puts it in front of
#                     PostgreSQL)
#   docker-compose   (Debian package docker-compose: validates the compose files offline; no Docker
#                     engine is needed or installed)
#   ShellCheck       (Debian package shellcheck: the deploy scripts are checked with it)
#   Chromium         (Debian package chromium: the browser e2e test drives it with playwright-core;
#                     `npx playwright install` is not used, it downloads from outside the registries)
# and warns when kubectl is missing (not in Debian's archive; the Kubernetes manifest test needs it).
#
# Does nothing (and takes well under a second) when all are present. Installs with apt-get
# when run as root on Debian/Ubuntu; otherwise prints what to install and exits 1.
# Never starts, stops or reconfigures a PostgreSQL, Redis or nginx that is already running: while
# it installs, a temporary /usr/sbin/policy-rc.d tells the packages not to touch any service.
set -euo pipefail

say() { printf '==> %s\n' "$*"; }
warn() { printf 'install-system-deps: %s\n' "$*" >&2; }

have_nginx() { command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; }
have_postgres() {
  local f
  for f in /usr/lib/postgresql/*/bin/initdb; do
    [ -x "$f" ] && return 0
  done
  command -v initdb >/dev/null 2>&1
}
have_redis() { command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ]; }
have_sentinel() { command -v redis-sentinel >/dev/null 2>&1 || [ -x /usr/bin/redis-sentinel ]; }
have_pgbouncer() { command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ]; }
have_compose() { command -v docker-compose >/dev/null 2>&1; }
have_shellcheck() { command -v shellcheck >/dev/null 2>&1; }
have_chromium() { command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; }

say "Checking for nginx, PostgreSQL server binaries (initdb/pg_ctl), redis-server, redis-sentinel, pgbouncer, docker-compose, shellcheck and chromium (needed by the e2e tests)"
missing=()
have_nginx || missing+=(nginx)
have_postgres || missing+=(postgresql)
have_redis || missing+=(redis-server)
have_sentinel || missing+=(redis-sentinel)
have_pgbouncer || missing+=(pgbouncer)
have_compose || missing+=(docker-compose)
have_shellcheck || missing+=(shellcheck)
have_chromium || missing+=(chromium)

# kubectl (with its built-in kustomize) builds the Kubernetes overlays in the e2e tier. It is not in
# Debian's archive, so it cannot be installed here: say so now, the test fails without it.
if ! command -v kubectl >/dev/null 2>&1; then
  warn "kubectl is not installed and is not in Debian's archive: the Kubernetes manifest test" \
    "(tests/e2e/kubernetes-manifests.test.ts) will fail until it is installed from the Kubernetes" \
    "project's packages (GitHub-hosted Ubuntu runners have it)"
fi

if [ "${#missing[@]}" -eq 0 ]; then
  say "All present: nothing to install"
  exit 0
fi

say "Missing: ${missing[*]}"

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    warn "not running as root, so cannot install them automatically."
  else
    warn "apt-get not found, so cannot install them automatically."
  fi
  {
    echo "Install them yourself, then run this again:"
    echo "  Debian/Ubuntu: sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}"
    brew=()
    for pkg in "${missing[@]}"; do
      case "$pkg" in
        postgresql) brew+=(postgresql@15) ;;
        redis-server | redis-sentinel) brew+=(redis) ;;
        chromium) brew+=(--cask chromium) ;;
        *) brew+=("$pkg") ;;
      esac
    done
    echo "  macOS (Homebrew): brew install ${brew[*]}"
    echo "  (or run this script as root: sudo $0)"
  } >&2
  exit 1
fi

# Package maintainer scripts call invoke-rc.d, which consults /usr/sbin/policy-rc.d: exit code 101
# means "do not start/stop/restart anything". Keep an existing policy as it is; otherwise put a
# temporary one in place and remove it on exit.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  say "Blocking service starts during the install (temporary $policy) so running servers are left alone"
  printf '#!/bin/sh\n# Temporary, written by install-system-deps.sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  trap 'rm -f "$policy"' EXIT
else
  say "Keeping the existing $policy (service starts are decided by it)"
fi

say "Refreshing the package lists (apt-get update)"
if ! apt-get update -qq; then
  warn "apt-get update failed; trying the install with the package lists already on this machine"
fi

say "Installing ${missing[*]} (apt-get install --no-install-recommends)"
if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
  # A package whose service could not start (port taken, no init system) makes apt-get report an
  # error although its binaries are installed: what matters here is the binaries.
  warn "apt-get reported an error; checking whether the binaries were installed anyway"
fi

say "Verifying"
failed=()
have_nginx || failed+=(nginx)
have_postgres || failed+=(postgresql)
have_redis || failed+=(redis-server)
have_sentinel || failed+=(redis-sentinel)
have_pgbouncer || failed+=(pgbouncer)
have_compose || failed+=(docker-compose)
have_shellcheck || failed+=(shellcheck)
have_chromium || failed+=(chromium)
if [ "${#failed[@]}" -ne 0 ]; then
  warn "still missing after the install: ${failed[*]}"
  exit 1
fi
say "Installed: ${missing[*]}"
