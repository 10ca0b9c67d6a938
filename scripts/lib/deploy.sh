# shellcheck shell=bash source-path=SCRIPTDIR
# The orchestration shared by scripts/deploy-rolling.sh and scripts/deploy-blue-green.sh: they
# only name a strategy and call deploy_main. A driver, chosen by --driver, supplies the operations
# that differ between plain processes and Docker Compose containers; nothing here knows which one
# runs. What a driver defines, takes and returns is the table in scripts/lib/README.md; a driver
# that lacks one of its operations is refused before anything runs.
#
# The contract every step keeps: an instance joins nginx's upstream list only once it answers
# /health/ready with 200, and leaves it (rewrite + `nginx -s reload` + wait until nginx's old
# workers have finished their requests) before it is sent SIGTERM. Open-source nginx has no active
# health checks, so this ordering, not nginx, is what keeps requests away from a draining replica.
#
# An instance is a record: one line of four tab-separated fields, name, address (host:port, what
# nginx proxies to), handle (local: the pid; compose: the container id) and version.
#
# Results: a function that hands back a value (a record, a list, a reason) assigns it to the
# variable whose name its caller passes first (printf -v, or set_list for a list); its exit status
# says how it went. Not stdout and $(...): that would run it in a subshell, where the instances it
# starts are not this shell's children (no exit status to wait for), what it remembers is lost and
# `fail` ends only the subshell. What a function prints is for the operator: the log on stdout,
# diagnostics on stderr.
#
# Needs bash >= 4.4 (empty arrays under `set -u`, mapfile, namerefs).

DEPLOY_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# Exit codes, also listed in the usage text.
readonly EXIT_FAILED=1          # the deploy failed and was rolled back: the previous set serves
readonly EXIT_USAGE=2           # bad arguments or a failed pre-flight check: nothing was changed
readonly EXIT_NEEDS_ATTENTION=3 # the deploy failed and the previous state could not be restored

# The drivers: --driver <name> loads deploy-driver-<name>.sh from this directory.
readonly DRIVERS=(local compose)
# What every driver defines as <driver>_<operation>: the rows of the table in scripts/lib/README.md.
readonly DRIVER_OPERATIONS=(check list save migrate start describe probe log_tail stop nginx
  nginx_workers upstreams_read upstreams_write finish)

# Passive health check on every upstream line: after max_fails errors within fail_timeout nginx
# skips the replica for fail_timeout (the same parameters as the shipped nginx/upstreams/api.conf).
readonly UPSTREAM_PARAMS='max_fails=3 fail_timeout=10s'

# How long nginx may take to start new workers after a reload before the deploy gives up on it.
readonly RELOAD_CONFIRM_TIMEOUT=15

# For the drivers' nginx_workers: prints the pids of the children of the process whose pid is $1
# (nginx's workers, when $1 is its master). POSIX sh over /proc, so it runs the same on this host
# and inside the nginx container.
# shellcheck disable=SC2016,SC2034 # expanded by the sh that runs it; used by the drivers
readonly WORKER_PIDS_SH='for stat in /proc/[0-9]*/stat; do
  read -r pid _ _ ppid _ 2>/dev/null <"$stat" || continue
  if [ "$ppid" = "$1" ]; then echo "$pid"; fi
done'

# Runs operation $1 of the chosen driver: `driver start started_out v1 2` calls local_start or
# compose_start with the rest of the arguments.
driver() {
  local operation="$1"
  shift
  "${DRIVER}_${operation}" "$@"
}

# Sources the chosen driver and checks that it defines every operation of the contract.
load_driver() {
  local file="${DEPLOY_LIB_DIR}/deploy-driver-${DRIVER}.sh" operation missing=''
  [ -f "$file" ] || fail "$EXIT_USAGE" "the ${DRIVER} driver is missing: no ${file}"
  # shellcheck source=/dev/null # one of the deploy-driver-*.sh files, named by --driver
  source "$file"
  for operation in "${DRIVER_OPERATIONS[@]}"; do
    declare -F "${DRIVER}_${operation}" >/dev/null || missing+="${missing:+, }${DRIVER}_${operation}"
  done
  [ -z "$missing" ] ||
    fail "$EXIT_USAGE" "the ${DRIVER} driver (${file}) does not define ${missing}: a driver defines every operation listed in ${DEPLOY_LIB_DIR}/README.md"
}

# --- options (defaults) ---------------------------------------------------------------------------
# What every function may read: set by deploy_main and parse_args, completed by `driver check`,
# read-only from the moment the running instances are known.
STRATEGY=
DEPLOY_NAME= # deploy-<strategy>: the name the log and the usage text go by
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
# Kept here, in this shell, and passed to the driver as arguments where it needs them.
CURRENT=()      # instances running when the deploy began (the "blue" set)
SERVING=()      # instances in nginx's upstream list, as last reloaded
RUNNING=()      # every instance running now: what `driver save` records
REPLACED_OLD=() # rolling: pairs (old, new) already swapped, for the rollback
REPLACED_NEW=()
DEPLOY_DONE=0

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
  The upstream list is written inside the nginx container (docker-compose.prod.yml gives it a
  tmpfs): no file on this host changes.

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
  local drivers
  printf -v drivers '%s or ' "${DRIVERS[@]}"
  drivers="${drivers% or }"
  [ -n "$DRIVER" ] || usage_error "--driver is required: ${drivers}"
  contains "$DRIVER" "${DRIVERS[@]}" || usage_error "--driver must be ${drivers}, got '$DRIVER'"
  if [ -n "$REPLICAS" ] && [ "$REPLICAS" -lt 1 ]; then usage_error "--replicas must be at least 1"; fi
  [ "$READY_TIMEOUT" -ge 1 ] || usage_error "--ready-timeout must be at least 1"
}

# --- values: records and lists --------------------------------------------------------------------
# Assigns the arguments after $1 to the array named $1: how a function hands back a list.
set_list() {
  local -n list_ref="$1"
  # shellcheck disable=SC2034 # a nameref: this assigns the caller's array
  list_ref=("${@:2}")
}
# make_rec <out> <name> <address> <handle> <version>: the record, into the variable named <out>.
make_rec() { printf -v "$1" '%s\t%s\t%s\t%s' "$2" "$3" "$4" "$5"; }
# rec_fields <record> <name> <address> <handle> <version>: the fields, into the variables so named
# (`_` for a field the caller does not need).
rec_fields() { IFS=$'\t' read -r "${@:2:4}" <<<"$1"; }
# "name (address)" for each record after $1, comma-separated ("none" for none), into the variable
# named $1: what the log says of a set of instances.
describe() {
  local text='' rec name addr
  for rec in "${@:2}"; do
    rec_fields "$rec" name addr _ _
    text+="${text:+, }${name} (${addr})"
  done
  printf -v "$1" '%s' "${text:-none}"
}
contains() {
  local needle="$1" item
  shift
  for item in "$@"; do [ "$item" = "$needle" ] && return 0; done
  return 1
}
# The records after $2 that are not $2, into the array named $1.
without() {
  local drop="$2" rec kept=()
  for rec in "${@:3}"; do [ "$rec" = "$drop" ] || kept+=("$rec"); done
  set_list "$1" "${kept[@]}"
}

# --- nginx ----------------------------------------------------------------------------------------
# The upstream list of the given instances, as nginx includes it, into the file $1.
write_upstreams() {
  local file="$1" rec name addr
  shift
  {
    printf '# Written by scripts/%s.sh (%s driver) at %s.\n' "$DEPLOY_NAME" "$DRIVER" "$(date -u +%FT%TZ)"
    printf '# Passive health checks: after max_fails failures within fail_timeout, a replica is\n'
    printf '# skipped for fail_timeout. Rewritten by every deploy: edit the scripts, not this file.\n'
    for rec in "$@"; do
      rec_fields "$rec" name addr _ _
      printf 'server %s %s; # %s\n' "$addr" "$UPSTREAM_PARAMS" "$name"
    done
  } >"$file"
}

# Puts back the upstream list saved in $1 and removes the temp files given.
restore_upstreams() {
  driver upstreams_write "$1" || warn "could not restore the previous upstream list"
  rm -f "$@"
}

# Makes nginx route to exactly the given instances: rewrite the list, check it, reload, then wait
# until every worker that ran the previous list has exited, which is when nginx has no request
# left in flight to a replica that just left the list.
switch_upstreams() {
  local why="$1"
  shift
  local previous_out='' next backup output workers_out=() old_workers=() upstream
  # The list lives where nginx runs (a file on this host, a file in the nginx container): it is
  # read and replaced through the driver, never assumed to be a file of this checkout.
  driver upstreams_read previous_out
  next="$(mktemp)"
  backup="$(mktemp)"
  printf '%s' "$previous_out" >"$backup"
  write_upstreams "$next" "$@"
  if ! driver upstreams_write "$next"; then
    restore_upstreams "$backup" "$next"
    fail "$EXIT_FAILED" "could not write the new upstream list (${DRIVER} driver); restored the previous one"
  fi
  if ! output="$(driver nginx -t 2>&1)"; then
    restore_upstreams "$backup" "$next"
    printf '%s\n' "$output" | indent >&2
    fail "$EXIT_FAILED" "nginx rejected the new upstream list; restored the previous one"
  fi
  driver nginx_workers workers_out
  old_workers=("${workers_out[@]}")
  if [ "${#old_workers[@]}" -eq 0 ]; then
    restore_upstreams "$backup" "$next"
    fail "$EXIT_FAILED" "cannot see nginx's worker processes (${DRIVER} driver); restored the upstream list"
  fi
  if ! output="$(driver nginx -s reload 2>&1)"; then
    restore_upstreams "$backup" "$next"
    printf '%s\n' "$output" | indent >&2
    fail "$EXIT_NEEDS_ATTENTION" "nginx -s reload failed; restored the upstream list, reload nginx by hand"
  fi
  rm -f "$next" "$backup"
  describe upstream "$@"
  log "nginx reloaded (${why}): upstream = ${upstream}"

  local start=$SECONDS pid fresh remaining
  while :; do
    driver nginx_workers workers_out
    fresh=0
    remaining=0
    for pid in "${workers_out[@]}"; do
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
# start_instances <out> <version> <count>: starts the instances, records them as running, and
# hands back their records in the array named <out>.
start_instances() {
  local version="$2" count="$3" started_out=() handle_out rec name addr rec_version
  driver start started_out "$version" "$count"
  for rec in "${started_out[@]}"; do
    RUNNING+=("$rec")
    rec_fields "$rec" name addr _ rec_version
    driver describe handle_out "$rec"
    log "started ${name} at ${addr} (${handle_out}, version ${rec_version})"
  done
  driver save "${RUNNING[@]}"
  set_list "$1" "${started_out[@]}"
}

# wait_ready <out> <record>...: waits until every given instance answers /health/ready with 200.
# Returns 1, with the reason in the variable named <out>, as soon as one exits, or when the timeout
# passes.
wait_ready() {
  local deadline=$((SECONDS + READY_TIMEOUT)) pending=("${@:2}") still rec status detail_out
  local first_detail waiting name
  describe waiting "${@:2}"
  log "waiting for /health/ready on ${waiting} (up to ${READY_TIMEOUT}s)"
  while [ "${#pending[@]}" -gt 0 ]; do
    still=()
    for rec in "${pending[@]}"; do
      status=0
      detail_out=
      driver probe detail_out "$rec" || status=$?
      rec_fields "$rec" name _ _ _
      case "$status" in
        0) log "ready: ${name}" ;;
        2)
          printf -v "$1" '%s' "${name} ${detail_out} before it was ready"
          driver log_tail "$rec" | indent >&2
          return 1
          ;;
        *)
          [ "${#still[@]}" -gt 0 ] || first_detail="$detail_out"
          still+=("$rec")
          ;;
      esac
    done
    pending=("${still[@]}")
    [ "${#pending[@]}" -eq 0 ] && break
    if [ "$SECONDS" -ge "$deadline" ]; then
      rec_fields "${pending[0]}" name _ _ _
      printf -v "$1" '%s' "${name} was not ready within ${READY_TIMEOUT}s (last probe: ${first_detail})"
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
  local rec keep=() stopping
  describe stopping "$@"
  log "stopping ${stopping} (SIGTERM, SIGKILL after ${STOP_TIMEOUT}s)"
  driver stop "$@"
  for rec in "${RUNNING[@]}"; do contains "$rec" "$@" || keep+=("$rec"); done
  RUNNING=("${keep[@]}")
  driver save "${RUNNING[@]}"
}

# --- strategies -----------------------------------------------------------------------------------
strategy_blue_green() {
  local blue=("${CURRENT[@]}") green=() failure serving
  describe serving "${blue[@]}"
  log "blue-green: starting the green set, ${REPLICAS} instance(s) of ${VERSION}; blue serves: ${serving}"
  start_instances green "$VERSION" "$REPLICAS"
  if ! wait_ready failure "${green[@]}"; then
    log "rolling back: ${failure}"
    stop_instances "${green[@]}"
    fail "$EXIT_FAILED" "the green set never became ready (${failure}); it was stopped and nginx was not touched: blue keeps serving"
  fi
  switch_upstreams "green in, blue out" "${green[@]}"
  stop_instances "${blue[@]}"
}

strategy_rolling() {
  local olds=("${CURRENT[@]}") steps i old new started=() next=() failure serving joining leaving
  steps="${#olds[@]}"
  [ "$REPLICAS" -gt "$steps" ] && steps="$REPLICAS"
  describe serving "${SERVING[@]}"
  log "rolling: ${steps} step(s) to ${REPLICAS} instance(s) of ${VERSION}; serving: ${serving}"
  for ((i = 0; i < steps; i++)); do
    old=
    new=
    [ "$i" -lt "${#olds[@]}" ] && old="${olds[$i]}"
    if [ "$i" -lt "$REPLICAS" ]; then
      log "step $((i + 1))/${steps}: starting one instance of ${VERSION}"
      start_instances started "$VERSION" 1
      new="${started[0]}"
      if ! wait_ready failure "$new"; then
        log "rolling back: ${failure}"
        stop_instances "$new"
        rollback_rolling "$failure"
      fi
    fi
    without next "$old" "${SERVING[@]}"
    [ -n "$new" ] && next+=("$new")
    describe joining ${new:+"$new"}
    describe leaving ${old:+"$old"}
    switch_upstreams "step $((i + 1))/${steps}: in ${joining}, out ${leaving}" "${next[@]}"
    if [ -n "$old" ]; then stop_instances "$old"; fi
    if [ -n "$old" ] && [ -n "$new" ]; then
      REPLACED_OLD+=("$old")
      REPLACED_NEW+=("$new")
    fi
  done
}

# rollback_rolling <reason>: undoes the steps already taken, newest first, the same way they were
# made: an instance of the version it replaced starts, becomes ready, swaps in for the new one,
# which is then stopped. New instances that replaced nothing (scaling up) just leave. Ends the run.
rollback_rolling() {
  local reason="$1" j restored=() added=() rec next=() failure serving joining leaving
  local version
  for rec in "${SERVING[@]}"; do
    if ! contains "$rec" "${CURRENT[@]}" && ! contains "$rec" "${REPLACED_NEW[@]}"; then added+=("$rec"); fi
  done
  if [ "${#REPLACED_NEW[@]}" -eq 0 ] && [ "${#added[@]}" -eq 0 ]; then
    fail "$EXIT_FAILED" "${reason}; nothing had been switched: the previous instances keep serving, untouched"
  fi
  log "rolling back ${#REPLACED_NEW[@]} replaced instance(s) to their previous version, one at a time"
  for ((j = ${#REPLACED_NEW[@]} - 1; j >= 0; j--)); do
    rec_fields "${REPLACED_OLD[$j]}" _ _ _ version
    start_instances restored "$version" 1
    if ! wait_ready failure "${restored[0]}"; then
      stop_instances "${restored[0]}"
      describe serving "${SERVING[@]}"
      fail "$EXIT_NEEDS_ATTENTION" "${reason}; then the rollback failed too (${failure}): serving ${serving}"
    fi
    without next "${REPLACED_NEW[$j]}" "${SERVING[@]}"
    next+=("${restored[0]}")
    describe joining "${restored[0]}"
    describe leaving "${REPLACED_NEW[$j]}"
    switch_upstreams "rollback: in ${joining}, out ${leaving}" "${next[@]}"
    stop_instances "${REPLACED_NEW[$j]}"
  done
  if [ "${#added[@]}" -gt 0 ]; then
    next=()
    for rec in "${SERVING[@]}"; do contains "$rec" "${added[@]}" || next+=("$rec"); done
    describe leaving "${added[@]}"
    switch_upstreams "rollback: out ${leaving}" "${next[@]}"
    stop_instances "${added[@]}"
  fi
  describe serving "${SERVING[@]}"
  fail "$EXIT_FAILED" "${reason}; rolled back: serving ${serving}"
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
  local status=$? rec leftovers=() stopping
  [ "$DEPLOY_DONE" -eq 1 ] && return
  trap - EXIT INT TERM
  for rec in "${RUNNING[@]}"; do contains "$rec" "${SERVING[@]}" || leftovers+=("$rec"); done
  if [ "${#leftovers[@]}" -gt 0 ]; then
    describe stopping "${leftovers[@]}"
    log "cleaning up: stopping ${stopping}, not in nginx's upstream list"
    stop_instances "${leftovers[@]}" || warn "could not stop every leftover instance"
  fi
  exit "$status"
}

deploy_main() {
  STRATEGY="$1"
  shift
  DEPLOY_NAME="deploy-${STRATEGY}"
  parse_args "$@"
  load_driver
  driver check
  acquire_lock
  log "pre-flight checks passed (${DRIVER} driver, version ${VERSION})"

  local current_out=() running
  driver list current_out
  CURRENT=("${current_out[@]}")
  SERVING=("${CURRENT[@]}")
  RUNNING=("${CURRENT[@]}")
  [ -n "$REPLICAS" ] || REPLICAS="${#CURRENT[@]}"
  [ "$REPLICAS" -gt 0 ] || REPLICAS=3
  # shellcheck disable=SC2034 # most are read only by the driver, which is sourced at run time
  readonly STRATEGY DEPLOY_NAME DRIVER VERSION REPLICAS READY_TIMEOUT STOP_TIMEOUT DRAIN_TIMEOUT \
    ENV_FILE STATE_DIR RUN_MIGRATIONS NGINX_BIN NGINX_PREFIX NGINX_CONF NGINX_UPSTREAMS \
    NGINX_PID_FILE NODE_BIN COMPOSE_FILE PROJECT_NAME SERVICE NGINX_SERVICE APP_PORT
  describe running "${CURRENT[@]}"
  log "running now: ${running}; target: ${REPLICAS} instance(s)"

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
  local serving
  describe serving "${SERVING[@]}"
  log "deployed ${VERSION}: serving ${serving}"
  driver finish
}
