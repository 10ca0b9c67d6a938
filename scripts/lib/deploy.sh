# shellcheck shell=bash source-path=SCRIPTDIR
# The orchestration shared by scripts/deploy-rolling.sh and scripts/deploy-blue-green.sh: they
# only name a strategy and call deploy_main. A driver (deploy-driver-local.sh or
# deploy-driver-compose.sh, next to this file) supplies the few operations that differ between
# plain processes and Docker Compose containers; nothing here knows which one runs.
#
# The contract every step keeps: an instance joins nginx's upstream list only once it answers
# /health/ready with 200, and leaves it (rewrite + `nginx -s reload` + wait until nginx's old
# workers have finished their requests) before it is sent SIGTERM. Open-source nginx has no active
# health checks, so this ordering, not nginx, is what keeps requests away from a draining replica.
#
# An instance is one line of four tab-separated fields: name, address (host:port, what nginx
# proxies to), handle (local: the pid; compose: the container id) and version.
#
# Needs bash >= 4.4 (empty arrays under `set -u`, mapfile).

DEPLOY_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# Exit codes, also listed in the usage text.
readonly EXIT_FAILED=1          # the deploy failed and was rolled back: the previous set serves
readonly EXIT_USAGE=2           # bad arguments or a failed pre-flight check: nothing was changed
readonly EXIT_NEEDS_ATTENTION=3 # the deploy failed and the previous state could not be restored

# Passive health check on every upstream line: after max_fails errors within fail_timeout nginx
# skips the replica for fail_timeout (the same parameters as the shipped nginx/upstreams/api.conf).
readonly UPSTREAM_PARAMS='max_fails=3 fail_timeout=10s'

# How long nginx may take to start new workers after a reload before the deploy gives up on it.
readonly RELOAD_CONFIRM_TIMEOUT=15

# Prints the pids of the children of the process whose pid is $1 (nginx's workers, when $1 is its
# master). POSIX sh over /proc, so it runs the same on this host and inside the nginx container.
# shellcheck disable=SC2016 # expanded by the sh that runs it
readonly WORKER_PIDS_SH='for stat in /proc/[0-9]*/stat; do
  read -r pid _ _ ppid _ 2>/dev/null <"$stat" || continue
  if [ "$ppid" = "$1" ]; then echo "$pid"; fi
done'

# shellcheck source=deploy-driver-local.sh
source "${DEPLOY_LIB_DIR}/deploy-driver-local.sh"
# shellcheck source=deploy-driver-compose.sh
source "${DEPLOY_LIB_DIR}/deploy-driver-compose.sh"

# Runs operation $1 of the chosen driver: `driver start v1 2` calls local_start or compose_start.
driver() {
  local operation="$1"
  shift
  "${DRIVER}_${operation}" "$@"
}

# --- options (defaults) ---------------------------------------------------------------------------
STRATEGY=
DRIVER=
VERSION=
REPLICAS=
READY_TIMEOUT=60
STOP_TIMEOUT=30
DRAIN_TIMEOUT=60
ENV_FILE=.env.prod
STATE_DIR=.deploy
RUN_MIGRATIONS=1
# local driver
NGINX_BIN=nginx
NGINX_PREFIX=/etc/nginx
NGINX_CONF=
NGINX_UPSTREAMS=
NGINX_PID_FILE=
NODE_BIN=node
# compose driver
COMPOSE_FILE=docker-compose.prod.yml
PROJECT_NAME=
SERVICE=api
NGINX_SERVICE=nginx
APP_PORT=3001

# --- state of this run ----------------------------------------------------------------------------
CURRENT=()      # instances running when the deploy began (the "blue" set)
SERVING=()      # instances in nginx's upstream list, as last reloaded
RUNNING=()      # every instance running now: what the local driver records in its state dir
STARTED_NOW=()  # set by driver start: the instances it just started
REPLACED_OLD=() # rolling: pairs (old, new) already swapped, for the rollback
REPLACED_NEW=()
READY_FAILURE=
PROBE_DETAIL=
DEPLOY_DONE=0
R_NAME='' R_ADDR='' R_HANDLE='' R_VERSION=''

# --- output ---------------------------------------------------------------------------------------
log() { printf '%s [%s] %s\n' "$(date -u +%H:%M:%S)" "${DEPLOY_NAME:-deploy}" "$*"; }
warn() { printf '%s [%s] warning: %s\n' "$(date -u +%H:%M:%S)" "${DEPLOY_NAME:-deploy}" "$*" >&2; }
# Ends the run with a reason and an exit code (see EXIT_*).
fail() {
  local code="$1"
  shift
  printf '%s [%s] FAILED: %s\n' "$(date -u +%H:%M:%S)" "${DEPLOY_NAME:-deploy}" "$*" >&2
  exit "$code"
}
usage_error() {
  printf '%s: %s\n' "${DEPLOY_NAME:-deploy}" "$*" >&2
  printf "Run '%s --help' for the options.\n" "$0" >&2
  exit "$EXIT_USAGE"
}
# Prints stdin indented, for the output of a command quoted in the log.
indent() { sed 's/^/    /'; }

usage() {
  local what
  if [ "$STRATEGY" = rolling ]; then
    what="Rolling deploy: replaces the running instances one at a time. For each: start one
instance of the new version, wait until it is ready, swap it into nginx's upstream list for one
old instance (one reload), wait until nginx's old workers are done, then SIGTERM the old one.
Capacity never drops below the current count. If a new instance never becomes ready, the
instances already replaced are rolled back to their previous version the same way."
  else
    what="Blue-green deploy: starts a complete new (green) set next to the running (blue) one,
waits until every green instance is ready, switches nginx's upstream list to the green set in
one reload, waits until nginx's old workers are done, then SIGTERMs the blue set. If any green
instance never becomes ready, the green set is stopped and blue keeps serving, untouched."
  fi
  cat <<EOF
Usage: scripts/${DEPLOY_NAME}.sh [options] <version>

${what}
Migrations run once, before any new instance starts (they must suit both versions).

<version>
  --driver compose: the image tag to run (\${API_IMAGE:-express-template}:<version>), built or
                    pulled beforehand
  --driver local:   a directory holding a built release (dist/, node_modules/, prisma/,
                    package.json), e.g. . for this checkout after 'pnpm build'

Options:
  --driver compose|local   required. compose (production): the api service of the compose
                           file, through 'docker compose'. local: plain 'node dist/server.js'
                           processes on 127.0.0.1, on free ports, tracked in the state
                           directory (Linux).
  --replicas N             instances to end with (default: as many as run now, or 3)
  --env-file FILE          the app's environment (default: .env.prod). compose: passed to
                           'docker compose --env-file' (the containers read the compose file's
                           env_file). local: the only environment the instances get (ENV_FILE),
                           plus PORT, HOST=127.0.0.1, INSTANCE_ID and DATA_DIR=<state dir>/data.
  --state-dir DIR          lock file; local driver: instances, logs (default: .deploy)
  --ready-timeout SEC      how long a new instance may take to answer /health/ready 200 (60)
  --drain-timeout SEC      how long to wait for nginx's old workers after a reload (60)
  --stop-timeout SEC       SIGTERM to SIGKILL, longer than SHUTDOWN_TIMEOUT_MS (30)
  --skip-migrations        do not run migrations
  -h, --help               this help

Local driver:
  --nginx-prefix DIR       nginx's prefix, as given to 'nginx -p' (default: /etc/nginx)
  --nginx-conf FILE        nginx's main config (default: <prefix>/nginx.conf)
  --nginx-upstreams FILE   the upstream list to rewrite (default: <prefix>/upstreams/api.conf)
  --nginx-pid-file FILE    nginx's pid file (default: the config's 'pid' directive)
  --nginx-bin PATH         the nginx binary (default: nginx)
  --node PATH              the node binary the instances run (default: node)

Compose driver:
  --compose-file FILE      (default: docker-compose.prod.yml)
  --project-name NAME      compose project name (default: compose's own)
  --service NAME           the API service (default: api)
  --nginx-service NAME     the nginx service (default: nginx)
  --app-port PORT          the port the API listens on in its container (default: 3001)
  --nginx-upstreams FILE   the upstream list on the host, mounted into the nginx container
                           (default: nginx/upstreams/api.conf next to the compose file)

Exit status: 0 deployed; 1 failed and rolled back (the previous set serves); 2 bad arguments or
a failed pre-flight check (nothing changed); 3 failed and the previous state could not be
restored (read the log).
EOF
}

# --- arguments ------------------------------------------------------------------------------------
need_value() { [ "$#" -ge 2 ] || usage_error "$1 needs a value"; }
need_number() {
  case "$2" in
    '' | *[!0-9]*) usage_error "$1 must be a whole number of seconds or instances, got '$2'" ;;
  esac
}

parse_args() {
  local positional=()
  while [ "$#" -gt 0 ]; do
    case "$1" in
      --*=*) set -- "${1%%=*}" "${1#*=}" "${@:2}" ;;
    esac
    case "$1" in
      -h | --help)
        usage
        exit 0
        ;;
      --skip-migrations)
        RUN_MIGRATIONS=0
        shift
        ;;
      --driver | --replicas | --env-file | --state-dir | --ready-timeout | --drain-timeout | \
        --stop-timeout | --nginx-prefix | --nginx-conf | --nginx-upstreams | --nginx-pid-file | \
        --nginx-bin | --node | --compose-file | --project-name | --service | --nginx-service | \
        --app-port)
        need_value "$@"
        case "$1" in
          --driver) DRIVER="$2" ;;
          --replicas) need_number "$1" "$2" && REPLICAS="$2" ;;
          --env-file) ENV_FILE="$2" ;;
          --state-dir) STATE_DIR="$2" ;;
          --ready-timeout) need_number "$1" "$2" && READY_TIMEOUT="$2" ;;
          --drain-timeout) need_number "$1" "$2" && DRAIN_TIMEOUT="$2" ;;
          --stop-timeout) need_number "$1" "$2" && STOP_TIMEOUT="$2" ;;
          --nginx-prefix) NGINX_PREFIX="$2" ;;
          --nginx-conf) NGINX_CONF="$2" ;;
          --nginx-upstreams) NGINX_UPSTREAMS="$2" ;;
          --nginx-pid-file) NGINX_PID_FILE="$2" ;;
          --nginx-bin) NGINX_BIN="$2" ;;
          --node) NODE_BIN="$2" ;;
          --compose-file) COMPOSE_FILE="$2" ;;
          --project-name) PROJECT_NAME="$2" ;;
          --service) SERVICE="$2" ;;
          --nginx-service) NGINX_SERVICE="$2" ;;
          --app-port) need_number "$1" "$2" && APP_PORT="$2" ;;
        esac
        shift 2
        ;;
      --)
        shift
        positional+=("$@")
        break
        ;;
      -*) usage_error "unknown option: $1" ;;
      *)
        positional+=("$1")
        shift
        ;;
    esac
  done
  [ "${#positional[@]}" -eq 1 ] || usage_error "expected exactly one <version>, got ${#positional[@]}"
  VERSION="${positional[0]}"
  case "$DRIVER" in
    local | compose) ;;
    '') usage_error "--driver is required: local or compose" ;;
    *) usage_error "--driver must be local or compose, got '$DRIVER'" ;;
  esac
  if [ -n "$REPLICAS" ] && [ "$REPLICAS" -lt 1 ]; then usage_error "--replicas must be at least 1"; fi
  [ "$READY_TIMEOUT" -ge 1 ] || usage_error "--ready-timeout must be at least 1"
}

# --- instance records -----------------------------------------------------------------------------
make_rec() { printf '%s\t%s\t%s\t%s' "$1" "$2" "$3" "$4"; }
# Splits a record into R_NAME, R_ADDR, R_HANDLE, R_VERSION.
parse_rec() { IFS=$'\t' read -r R_NAME R_ADDR R_HANDLE R_VERSION <<<"$1"; }
rec_name() {
  parse_rec "$1"
  printf '%s' "$R_NAME"
}
# "name (addr)" for each record, comma-separated.
describe() {
  local rec out=()
  for rec in "$@"; do
    parse_rec "$rec"
    out+=("$R_NAME ($R_ADDR)")
  done
  local IFS=,
  printf '%s' "${out[*]:-none}" | sed 's/,/, /g'
}
contains() {
  local needle="$1" item
  shift
  for item in "$@"; do [ "$item" = "$needle" ] && return 0; done
  return 1
}
# Prints the records of $2.. that are not $1, one per line.
without() {
  local drop="$1" rec
  shift
  for rec in "$@"; do [ "$rec" = "$drop" ] || printf '%s\n' "$rec"; done
}

# --- nginx ----------------------------------------------------------------------------------------
nginx_worker_pids() { driver nginx_sh "$WORKER_PIDS_SH" "$(driver nginx_master)"; }

write_upstreams() {
  local file="$1" rec tmp
  shift
  tmp="$(dirname "$file")/.$(basename "$file").tmp"
  {
    printf '# Written by scripts/%s.sh (%s driver) at %s.\n' "$DEPLOY_NAME" "$DRIVER" "$(date -u +%FT%TZ)"
    printf '# Passive health checks: after max_fails failures within fail_timeout, a replica is\n'
    printf '# skipped for fail_timeout. Rewritten by every deploy: edit the scripts, not this file.\n'
    for rec in "$@"; do
      parse_rec "$rec"
      printf 'server %s %s; # %s\n' "$R_ADDR" "$UPSTREAM_PARAMS" "$R_NAME"
    done
  } >"$tmp"
  # A rename, so nginx never reads half a file (and a bind-mounted directory sees the new file).
  mv -f "$tmp" "$file"
}

# Makes nginx route to exactly the given instances: rewrite the list, check it, reload, then wait
# until every worker that ran the previous list has exited, which is when nginx has no request
# left in flight to a replica that just left the list.
switch_upstreams() {
  local why="$1"
  shift
  local file backup output
  file="$(driver upstreams_file)"
  backup="$(mktemp)"
  cp "$file" "$backup" 2>/dev/null || : >"$backup"
  write_upstreams "$file" "$@"
  if ! output="$(driver nginx -t 2>&1)"; then
    cp "$backup" "$file"
    rm -f "$backup"
    printf '%s\n' "$output" | indent >&2
    fail "$EXIT_FAILED" "nginx rejected the new upstream list ($file); restored the previous one"
  fi
  local old_workers=()
  mapfile -t old_workers < <(nginx_worker_pids)
  if [ "${#old_workers[@]}" -eq 0 ]; then
    cp "$backup" "$file"
    rm -f "$backup"
    fail "$EXIT_FAILED" "cannot see nginx's worker processes (master pid $(driver nginx_master)); restored the upstream list"
  fi
  if ! output="$(driver nginx -s reload 2>&1)"; then
    cp "$backup" "$file"
    rm -f "$backup"
    printf '%s\n' "$output" | indent >&2
    fail "$EXIT_NEEDS_ATTENTION" "nginx -s reload failed; restored the upstream list, reload nginx by hand"
  fi
  rm -f "$backup"
  log "nginx reloaded (${why}): upstream = $(describe "$@")"

  local start=$SECONDS pid now=() fresh remaining
  while :; do
    mapfile -t now < <(nginx_worker_pids)
    fresh=0
    remaining=0
    for pid in "${now[@]}"; do
      if contains "$pid" "${old_workers[@]}"; then
        remaining=$((remaining + 1))
      else
        fresh=1
      fi
    done
    if [ "$fresh" -eq 0 ]; then
      # No new worker yet: the reload has not taken effect (or failed, e.g. a port it cannot bind).
      if [ $((SECONDS - start)) -ge "$RELOAD_CONFIRM_TIMEOUT" ]; then
        fail "$EXIT_NEEDS_ATTENTION" "nginx started no new worker within ${RELOAD_CONFIRM_TIMEOUT}s of the reload: read its error log"
      fi
    elif [ "$remaining" -eq 0 ]; then
      break
    elif [ $((SECONDS - start)) -ge "$DRAIN_TIMEOUT" ]; then
      warn "${remaining} old nginx worker(s) still busy after ${DRAIN_TIMEOUT}s; going on: an instance finishes its in-flight requests during its own graceful shutdown"
      break
    fi
    sleep 0.2
  done
  log "nginx's previous workers are done (in-flight requests finished after $((SECONDS - start))s)"
  SERVING=("$@")
}

# --- instances ------------------------------------------------------------------------------------
start_instances() {
  local version="$1" count="$2" rec
  driver start "$version" "$count"
  for rec in "${STARTED_NOW[@]}"; do
    RUNNING+=("$rec")
    parse_rec "$rec"
    log "started ${R_NAME} at ${R_ADDR} ($(driver describe "$rec"), version ${R_VERSION})"
  done
  driver save
}

# Waits until every given instance answers /health/ready with 200. Fails (READY_FAILURE says why)
# as soon as one exits, or when the timeout passes.
wait_ready() {
  local deadline=$((SECONDS + READY_TIMEOUT)) pending=("$@") still rec status
  log "waiting for /health/ready on $(describe "$@") (up to ${READY_TIMEOUT}s)"
  while [ "${#pending[@]}" -gt 0 ]; do
    still=()
    for rec in "${pending[@]}"; do
      status=0
      driver probe "$rec" || status=$?
      parse_rec "$rec"
      case "$status" in
        0) log "ready: ${R_NAME}" ;;
        2)
          READY_FAILURE="${R_NAME} ${PROBE_DETAIL} before it was ready"
          driver log_tail "$rec" | indent >&2
          return 1
          ;;
        *) still+=("$rec") ;;
      esac
    done
    pending=("${still[@]}")
    [ "${#pending[@]}" -eq 0 ] && break
    if [ "$SECONDS" -ge "$deadline" ]; then
      parse_rec "${pending[0]}"
      READY_FAILURE="${R_NAME} was not ready within ${READY_TIMEOUT}s (last probe: ${PROBE_DETAIL})"
      driver log_tail "${pending[0]}" | indent >&2
      return 1
    fi
    sleep 0.5
  done
}

# SIGTERM, then up to --stop-timeout for the graceful shutdown. Only ever called on instances that
# are not in nginx's upstream list (or never were).
stop_instances() {
  [ "$#" -gt 0 ] || return 0
  local rec keep=()
  log "stopping $(describe "$@") (SIGTERM, SIGKILL after ${STOP_TIMEOUT}s)"
  driver stop "$@"
  for rec in "${RUNNING[@]}"; do contains "$rec" "$@" || keep+=("$rec"); done
  RUNNING=("${keep[@]}")
  driver save
}

# --- strategies -----------------------------------------------------------------------------------
strategy_blue_green() {
  local blue=("${CURRENT[@]}") green
  log "blue-green: starting the green set, ${REPLICAS} instance(s) of ${VERSION}; blue serves: $(describe "${blue[@]}")"
  start_instances "$VERSION" "$REPLICAS"
  green=("${STARTED_NOW[@]}")
  if ! wait_ready "${green[@]}"; then
    log "rolling back: ${READY_FAILURE}"
    stop_instances "${green[@]}"
    fail "$EXIT_FAILED" "the green set never became ready (${READY_FAILURE}); it was stopped and nginx was not touched: blue keeps serving"
  fi
  switch_upstreams "green in, blue out" "${green[@]}"
  stop_instances "${blue[@]}"
}

strategy_rolling() {
  local olds=("${CURRENT[@]}") steps i old new next=()
  steps="${#olds[@]}"
  [ "$REPLICAS" -gt "$steps" ] && steps="$REPLICAS"
  log "rolling: ${steps} step(s) to ${REPLICAS} instance(s) of ${VERSION}; serving: $(describe "${SERVING[@]}")"
  for ((i = 0; i < steps; i++)); do
    old=
    new=
    [ "$i" -lt "${#olds[@]}" ] && old="${olds[$i]}"
    if [ "$i" -lt "$REPLICAS" ]; then
      log "step $((i + 1))/${steps}: starting one instance of ${VERSION}"
      start_instances "$VERSION" 1
      new="${STARTED_NOW[0]}"
      if ! wait_ready "$new"; then
        log "rolling back: ${READY_FAILURE}"
        stop_instances "$new"
        rollback_rolling
      fi
    fi
    mapfile -t next < <(without "$old" "${SERVING[@]}")
    [ -n "$new" ] && next+=("$new")
    switch_upstreams "step $((i + 1))/${steps}: in $(describe ${new:+"$new"}), out $(describe ${old:+"$old"})" "${next[@]}"
    if [ -n "$old" ]; then stop_instances "$old"; fi
    if [ -n "$old" ] && [ -n "$new" ]; then
      REPLACED_OLD+=("$old")
      REPLACED_NEW+=("$new")
    fi
  done
}

# Undoes the steps already taken, newest first, the same way they were made: an instance of the
# version it replaced starts, becomes ready, swaps in for the new one, which is then stopped.
# New instances that replaced nothing (scaling up) just leave.
rollback_rolling() {
  local reason="$READY_FAILURE" j restored added=() rec next=()
  for rec in "${SERVING[@]}"; do
    if ! contains "$rec" "${CURRENT[@]}" && ! contains "$rec" "${REPLACED_NEW[@]}"; then added+=("$rec"); fi
  done
  if [ "${#REPLACED_NEW[@]}" -eq 0 ] && [ "${#added[@]}" -eq 0 ]; then
    fail "$EXIT_FAILED" "${reason}; nothing had been switched: the previous instances keep serving, untouched"
  fi
  log "rolling back ${#REPLACED_NEW[@]} replaced instance(s) to their previous version, one at a time"
  for ((j = ${#REPLACED_NEW[@]} - 1; j >= 0; j--)); do
    parse_rec "${REPLACED_OLD[$j]}"
    start_instances "$R_VERSION" 1
    restored="${STARTED_NOW[0]}"
    if ! wait_ready "$restored"; then
      stop_instances "$restored"
      fail "$EXIT_NEEDS_ATTENTION" "${reason}; then the rollback failed too (${READY_FAILURE}): serving $(describe "${SERVING[@]}")"
    fi
    mapfile -t next < <(without "${REPLACED_NEW[$j]}" "${SERVING[@]}")
    next+=("$restored")
    switch_upstreams "rollback: in $(describe "$restored"), out $(describe "${REPLACED_NEW[$j]}")" "${next[@]}"
    stop_instances "${REPLACED_NEW[$j]}"
  done
  if [ "${#added[@]}" -gt 0 ]; then
    next=()
    for rec in "${SERVING[@]}"; do contains "$rec" "${added[@]}" || next+=("$rec"); done
    switch_upstreams "rollback: out $(describe "${added[@]}")" "${next[@]}"
    stop_instances "${added[@]}"
  fi
  fail "$EXIT_FAILED" "${reason}; rolled back: serving $(describe "${SERVING[@]}")"
}

# --- the run --------------------------------------------------------------------------------------
acquire_lock() {
  mkdir -p "$STATE_DIR"
  if ! command -v flock >/dev/null 2>&1; then
    warn "flock not found: nothing stops two deploys from running at once"
    return
  fi
  exec 9>>"$STATE_DIR/deploy.lock"
  flock -n 9 || usage_error "another deploy is running (it holds ${STATE_DIR}/deploy.lock)"
}

# On any failure: an instance that nginx does not route to cannot serve, so whatever this run left
# running outside the upstream list (a new instance not yet switched in, an old one switched out
# but not yet stopped) is stopped, and the state is saved.
on_exit() {
  local status=$? rec leftovers=()
  [ "$DEPLOY_DONE" -eq 1 ] && return
  trap - EXIT INT TERM
  for rec in "${RUNNING[@]}"; do contains "$rec" "${SERVING[@]}" || leftovers+=("$rec"); done
  if [ "${#leftovers[@]}" -gt 0 ]; then
    log "cleaning up: stopping $(describe "${leftovers[@]}"), not in nginx's upstream list"
    stop_instances "${leftovers[@]}" || warn "could not stop every leftover instance"
  fi
  exit "$status"
}

deploy_main() {
  STRATEGY="$1"
  shift
  DEPLOY_NAME="deploy-${STRATEGY}"
  parse_args "$@"
  driver check
  acquire_lock
  log "pre-flight checks passed (${DRIVER} driver, version ${VERSION})"

  driver list
  SERVING=("${CURRENT[@]}")
  RUNNING=("${CURRENT[@]}")
  [ -n "$REPLICAS" ] || REPLICAS="${#CURRENT[@]}"
  [ "$REPLICAS" -gt 0 ] || REPLICAS=3
  log "running now: $(describe "${CURRENT[@]}"); target: ${REPLICAS} instance(s)"

  trap on_exit EXIT
  trap 'warn "interrupted"; exit 130' INT
  trap 'warn "terminated"; exit 143' TERM

  if [ "$RUN_MIGRATIONS" -eq 1 ]; then
    log "running migrations once (version ${VERSION})"
    local output
    if ! output="$(driver migrate "$VERSION" 2>&1)"; then
      printf '%s\n' "$output" | indent >&2
      fail "$EXIT_FAILED" "migrations failed: nothing else was changed, the previous instances keep serving"
    fi
    printf '%s\n' "$output" | indent
  else
    log "skipping migrations (--skip-migrations)"
  fi

  case "$STRATEGY" in
    rolling) strategy_rolling ;;
    blue-green) strategy_blue_green ;;
  esac
  DEPLOY_DONE=1
  log "deployed ${VERSION}: serving $(describe "${SERVING[@]}")"
  if declare -F "${DRIVER}_finish" >/dev/null; then driver finish; fi
}
