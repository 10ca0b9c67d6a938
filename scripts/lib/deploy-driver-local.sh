# shellcheck shell=bash
# The local driver of scripts/lib/deploy.sh: instances are plain `node dist/server.js` processes on
# this machine, listening on 127.0.0.1 on free ports, behind an nginx run from the files in nginx/.
# It runs the same orchestration as production where no Docker engine runs (the e2e tests), and it
# is a complete deploy for a single host managed without containers.
#
# State, under --state-dir:
#   instances        one tab-separated line per running instance: name, address, pid, version
#   generation       a counter: instance names are api-<generation>-<n>
#   logs/<name>.log  each instance's stdout and stderr (JSON lines)
#   data/            DATA_DIR of every instance (shared, so development secrets are too)
#   deploy.lock      held (flock) while a deploy runs
#
# Instances start in their own session (setsid) with a clean environment: the env file and the
# variables below, never the environment of the shell that ran the deploy, so two deploys from
# two shells start identical instances.
#
# Each local_<operation> is called as `driver <operation>` by deploy.sh, which sets the options.
# shellcheck disable=SC2153,SC2154 # the option variables are defined in deploy.sh, which sources this

LOCAL_GENERATION=
LOCAL_SEQ=0

abs_path() { (cd "$(dirname "$1")" && printf '%s/%s' "$(pwd)" "$(basename "$1")"); }

local_check() {
  command -v curl >/dev/null 2>&1 || usage_error "curl is needed to probe /health/ready"
  NODE_BIN="$(command -v "$NODE_BIN")" || usage_error "node not found (--node)"
  command -v "$NGINX_BIN" >/dev/null 2>&1 || usage_error "nginx not found (--nginx-bin)"

  [ -d "$VERSION" ] || usage_error "the local driver deploys a release directory; '$VERSION' is not a directory"
  VERSION="$(cd "$VERSION" && pwd)"
  local file
  for file in dist/server.js dist/db/cli/migrate.js node_modules package.json; do
    [ -e "$VERSION/$file" ] || usage_error "$VERSION is not a built release: $file is missing (run pnpm install and pnpm build there)"
  done

  [ -f "$ENV_FILE" ] || usage_error "env file not found: $ENV_FILE (--env-file)"
  ENV_FILE="$(abs_path "$ENV_FILE")"
  # Real variables win over the file in the app, and DATABASE_URL is not one this driver sets.
  grep -Eq '^[[:space:]]*DATABASE_URL=[^[:space:]]' "$ENV_FILE" ||
    usage_error "$ENV_FILE has no DATABASE_URL: the instances of a deploy run side by side, which the embedded database (one process at a time) cannot serve"

  NGINX_PREFIX="$(cd "$NGINX_PREFIX" 2>/dev/null && pwd)" || usage_error "nginx prefix not found (--nginx-prefix)"
  : "${NGINX_CONF:=$NGINX_PREFIX/nginx.conf}"
  : "${NGINX_UPSTREAMS:=$NGINX_PREFIX/upstreams/api.conf}"
  [ -f "$NGINX_CONF" ] || usage_error "nginx config not found: $NGINX_CONF (--nginx-conf)"
  [ -w "$(dirname "$NGINX_UPSTREAMS")" ] || usage_error "cannot write the upstream list $NGINX_UPSTREAMS (--nginx-upstreams)"
  local output
  output="$(local_nginx -t 2>&1)" || usage_error "nginx -t fails on $NGINX_CONF before any change:
$output"
  if [ -z "$NGINX_PID_FILE" ]; then
    # The config's own `pid` directive, else the path nginx was built with.
    NGINX_PID_FILE="$(local_nginx -T 2>/dev/null | sed -n 's/^[[:space:]]*pid[[:space:]]\{1,\}\([^;]*\);.*/\1/p' | head -n 1)"
    [ -n "$NGINX_PID_FILE" ] || NGINX_PID_FILE="$("$NGINX_BIN" -V 2>&1 | tr ' ' '\n' | sed -n 's/^--pid-path=//p')"
    case "$NGINX_PID_FILE" in
      '') usage_error "cannot tell where nginx keeps its pid (--nginx-pid-file)" ;;
      /*) ;;
      *) NGINX_PID_FILE="$NGINX_PREFIX/$NGINX_PID_FILE" ;;
    esac
  fi
  local master
  master="$(local_nginx_master 2>/dev/null)" || true
  if [ -z "$master" ] || ! kill -0 "$master" 2>/dev/null; then
    usage_error "nginx is not running (no live master process in $NGINX_PID_FILE): start it with the same -p/-c first"
  fi

  mkdir -p "$STATE_DIR/logs" "$STATE_DIR/data"
  STATE_DIR="$(cd "$STATE_DIR" && pwd)"
}

# Whether pid $1 runs (a zombie, an exited child not yet reaped, does not).
pid_alive() {
  local state
  state="$(ps -o stat= -p "$1" 2>/dev/null)" || return 1
  [[ $state != Z* ]]
}

local_list() {
  CURRENT=()
  local file="$STATE_DIR/instances" name addr pid version
  [ -f "$file" ] || return 0
  while IFS=$'\t' read -r name addr pid version; do
    [ -n "$name" ] || continue
    if pid_alive "$pid" && grep -q 'dist/server.js' "/proc/$pid/cmdline" 2>/dev/null; then
      CURRENT+=("$(make_rec "$name" "$addr" "$pid" "$version")")
    else
      warn "${name} (pid ${pid}) is recorded but not running: leaving it out"
    fi
  done <"$file"
}

local_save() {
  local file="$STATE_DIR/instances" rec
  {
    for rec in "${RUNNING[@]}"; do printf '%s\n' "$rec"; done
  } >"$file.tmp"
  mv -f "$file.tmp" "$file"
}

# The environment of every process this driver starts in a release (migrations, instances).
clean_env() {
  CLEAN_ENV=(env -i PATH="$PATH" HOME="${HOME:-/}" ENV_FILE="$ENV_FILE" DATA_DIR="$STATE_DIR/data")
}

local_migrate() {
  clean_env
  (cd "$1" && exec "${CLEAN_ENV[@]}" "$NODE_BIN" dist/db/cli/migrate.js)
}

# Prints $1 distinct ports that were free a moment ago (all held open until each is chosen).
free_ports() {
  "$NODE_BIN" -e '
    const net = require("node:net");
    const servers = Array.from({ length: Number(process.argv[1]) }, () => net.createServer());
    Promise.all(servers.map((s) => new Promise((resolve) => s.listen(0, "127.0.0.1", resolve)))).then(() => {
      console.log(servers.map((s) => s.address().port).join("\n"));
      for (const s of servers) s.close();
    });' "$1"
}

local_start() {
  local version="$1" count="$2" k name port pid ports=()
  STARTED_NOW=()
  mapfile -t ports < <(free_ports "$count")
  [ "${#ports[@]}" -eq "$count" ] || fail "$EXIT_FAILED" "could not find ${count} free port(s)"
  if [ -z "$LOCAL_GENERATION" ]; then
    LOCAL_GENERATION=$(($(cat "$STATE_DIR/generation" 2>/dev/null || echo 0) + 1))
    echo "$LOCAL_GENERATION" >"$STATE_DIR/generation"
  fi
  clean_env
  local launcher=(setsid)
  command -v setsid >/dev/null 2>&1 || launcher=(nohup)
  for ((k = 0; k < count; k++)); do
    LOCAL_SEQ=$((LOCAL_SEQ + 1))
    name="api-${LOCAL_GENERATION}-${LOCAL_SEQ}"
    port="${ports[$k]}"
    (
      # Only stdin/stdout/stderr go to the instance: an inherited descriptor (the deploy lock, a
      # caller's pipe) would outlive this script in it.
      for fd in /proc/"$BASHPID"/fd/*; do
        fd="${fd##*/}"
        if [ "$fd" -gt 2 ]; then eval "exec ${fd}>&-" 2>/dev/null || true; fi
      done
      cd "$version" || exit 1
      # exec all the way down, so $! below is the server's own pid.
      exec "${launcher[@]}" "${CLEAN_ENV[@]}" PORT="$port" HOST=127.0.0.1 INSTANCE_ID="$name" \
        "$NODE_BIN" dist/server.js
    ) </dev/null >>"$STATE_DIR/logs/$name.log" 2>&1 &
    pid=$!
    STARTED_NOW+=("$(make_rec "$name" "127.0.0.1:$port" "$pid" "$version")")
  done
}

local_describe() {
  parse_rec "$1"
  printf 'pid %s' "$R_HANDLE"
}

# 0: ready; 1: not yet (PROBE_DETAIL says what it answered); 2: the process is gone.
local_probe() {
  parse_rec "$1"
  if ! pid_alive "$R_HANDLE"; then
    local status=0
    wait "$R_HANDLE" 2>/dev/null || status=$?
    PROBE_DETAIL="exited (status ${status})"
    return 2
  fi
  local code
  code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://${R_ADDR}/health/ready" || true)"
  [ "$code" = 200 ] && return 0
  # shellcheck disable=SC2034 # read by deploy.sh
  if [ "$code" = 000 ] || [ -z "$code" ]; then PROBE_DETAIL="no answer"; else PROBE_DETAIL="HTTP ${code}"; fi
  return 1
}

local_log_tail() {
  parse_rec "$1"
  printf 'last lines of %s:\n' "$STATE_DIR/logs/${R_NAME}.log"
  local lines
  lines="$(tail -n 5 "$STATE_DIR/logs/${R_NAME}.log" 2>/dev/null | cut -c 1-400)" || true
  printf '%s\n' "${lines:-(nothing)}"
}

local_stop() {
  local rec deadline gone=()
  for rec in "$@"; do
    parse_rec "$rec"
    if pid_alive "$R_HANDLE"; then kill -TERM "$R_HANDLE" 2>/dev/null || true; else gone+=("$rec"); fi
  done
  deadline=$((SECONDS + STOP_TIMEOUT))
  for rec in "$@"; do
    parse_rec "$rec"
    if contains "$rec" "${gone[@]}"; then
      wait "$R_HANDLE" 2>/dev/null || true
      log "${R_NAME} had already exited"
      continue
    fi
    while pid_alive "$R_HANDLE" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
    if pid_alive "$R_HANDLE"; then
      warn "${R_NAME} (pid ${R_HANDLE}) still runs ${STOP_TIMEOUT}s after SIGTERM: SIGKILL"
      kill -KILL "$R_HANDLE" 2>/dev/null || true
      while pid_alive "$R_HANDLE"; do sleep 0.1; done
    fi
    # The exit status is known only for instances this run started; the log says the rest.
    wait "$R_HANDLE" 2>/dev/null || true
    if tail -n 5 "$STATE_DIR/logs/${R_NAME}.log" 2>/dev/null | grep -q '"msg":"shutdown complete"'; then
      log "stopped ${R_NAME}: drained, shutdown complete"
    else
      warn "stopped ${R_NAME}, without 'shutdown complete' in its log (${STATE_DIR}/logs/${R_NAME}.log)"
    fi
  done
}

local_nginx() { "$NGINX_BIN" -p "$NGINX_PREFIX" -c "$NGINX_CONF" -e stderr "$@"; }
local_nginx_sh() { sh -c "$1" sh "${@:2}"; }
local_nginx_master() { tr -d '[:space:]' <"$NGINX_PID_FILE"; }
local_upstreams_file() { printf '%s' "$NGINX_UPSTREAMS"; }
