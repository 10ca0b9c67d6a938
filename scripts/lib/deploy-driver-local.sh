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
# two shells start identical instances. They are children of the deploy's shell, which is how
# local_probe learns the exit status of one that dies.
#
# Implements the operations of the driver contract (scripts/lib/README.md) as local_<operation>;
# deploy.sh sources this file and sets the options.
# shellcheck disable=SC2153,SC2154 # the option variables are defined in deploy.sh, which sources this

# The names of the instances this run starts, api-<generation>-<n>: the generation is taken from
# the state dir at the first start, n counts every instance started since.
LOCAL_GENERATION=
LOCAL_SEQ=0

# Prints $1 distinct ports that were free a moment ago (all held open until each is chosen).
readonly FREE_PORTS_JS='
  const net = require("node:net");
  const servers = Array.from({ length: Number(process.argv[1]) }, () => net.createServer());
  Promise.all(servers.map((s) => new Promise((resolve) => s.listen(0, "127.0.0.1", resolve)))).then(() => {
    console.log(servers.map((s) => s.address().port).join("\n"));
    for (const s of servers) s.close();
  });'

# Whether pid $1 runs (a zombie, an exited child not yet reaped, does not).
pid_alive() {
  local state
  state="$(ps -o stat= -p "$1" 2>/dev/null)" || return 1
  [[ $state != Z* ]]
}

# The command prefix of every process this driver starts in a release (migrations, instances), into
# the array named $1: a clean environment with the env file and DATA_DIR.
release_env() {
  set_list "$1" env -i PATH="$PATH" HOME="${HOME:-/}" ENV_FILE="$ENV_FILE" DATA_DIR="$STATE_DIR/data"
}

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
  ENV_FILE="$(cd "$(dirname "$ENV_FILE")" && pwd)/$(basename "$ENV_FILE")"
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
  local master=
  { read -r master <"$NGINX_PID_FILE"; } 2>/dev/null || true
  if [ -z "$master" ] || ! kill -0 "$master" 2>/dev/null; then
    usage_error "nginx is not running (no live master process in $NGINX_PID_FILE): start it with the same -p/-c first"
  fi

  mkdir -p "$STATE_DIR/logs" "$STATE_DIR/data"
  STATE_DIR="$(cd "$STATE_DIR" && pwd)"
}

local_list() {
  local file="$STATE_DIR/instances" name addr pid version rec records=()
  if [ -f "$file" ]; then
    while IFS=$'\t' read -r name addr pid version; do
      [ -n "$name" ] || continue
      if pid_alive "$pid" && grep -q 'dist/server.js' "/proc/$pid/cmdline" 2>/dev/null; then
        make_rec rec "$name" "$addr" "$pid" "$version"
        records+=("$rec")
      else
        warn "${name} (pid ${pid}) is recorded but not running: leaving it out"
      fi
    done <"$file"
  fi
  set_list "$1" "${records[@]}"
}

local_save() {
  local file="$STATE_DIR/instances" rec
  {
    for rec in "$@"; do printf '%s\n' "$rec"; done
  } >"$file.tmp"
  mv -f "$file.tmp" "$file"
}

local_migrate() {
  local env_prefix=()
  release_env env_prefix
  (cd "$1" && exec "${env_prefix[@]}" "$NODE_BIN" dist/db/cli/migrate.js)
}

local_start() {
  local version="$2" count="$3" k name port pid rec ports=() records=() env_prefix=()
  mapfile -t ports < <("$NODE_BIN" -e "$FREE_PORTS_JS" "$count")
  [ "${#ports[@]}" -eq "$count" ] || fail "$EXIT_FAILED" "could not find ${count} free port(s)"
  if [ -z "$LOCAL_GENERATION" ]; then
    LOCAL_GENERATION=$(($(cat "$STATE_DIR/generation" 2>/dev/null || echo 0) + 1))
    echo "$LOCAL_GENERATION" >"$STATE_DIR/generation"
  fi
  release_env env_prefix
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
      exec "${launcher[@]}" "${env_prefix[@]}" PORT="$port" HOST=127.0.0.1 INSTANCE_ID="$name" \
        "$NODE_BIN" dist/server.js
    ) </dev/null >>"$STATE_DIR/logs/$name.log" 2>&1 &
    pid=$!
    make_rec rec "$name" "127.0.0.1:$port" "$pid" "$version"
    records+=("$rec")
  done
  set_list "$1" "${records[@]}"
}

local_describe() {
  local pid
  rec_fields "$2" _ _ pid _
  printf -v "$1" 'pid %s' "$pid"
}

# 0: ready; 1: not yet; 2: the process is gone. The detail says what it answered, or how it ended.
local_probe() {
  local addr pid status=0 code
  rec_fields "$2" _ addr pid _
  if ! pid_alive "$pid"; then
    wait "$pid" 2>/dev/null || status=$?
    printf -v "$1" 'exited (status %s)' "$status"
    return 2
  fi
  code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://${addr}/health/ready" || true)"
  if [ "$code" = 000 ] || [ -z "$code" ]; then
    printf -v "$1" 'no answer'
    return 1
  fi
  printf -v "$1" 'HTTP %s' "$code"
  [ "$code" = 200 ]
}

local_log_tail() {
  local name lines
  rec_fields "$1" name _ _ _
  printf 'last lines of %s:\n' "$STATE_DIR/logs/${name}.log"
  lines="$(tail -n 5 "$STATE_DIR/logs/${name}.log" 2>/dev/null | cut -c 1-400)" || true
  printf '%s\n' "${lines:-(nothing)}"
}

local_stop() {
  local rec name pid deadline gone=()
  for rec in "$@"; do
    rec_fields "$rec" name _ pid _
    if pid_alive "$pid"; then kill -TERM "$pid" 2>/dev/null || true; else gone+=("$rec"); fi
  done
  deadline=$((SECONDS + STOP_TIMEOUT))
  for rec in "$@"; do
    rec_fields "$rec" name _ pid _
    if contains "$rec" "${gone[@]}"; then
      wait "$pid" 2>/dev/null || true
      log "${name} had already exited"
      continue
    fi
    while pid_alive "$pid" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
    if pid_alive "$pid"; then
      warn "${name} (pid ${pid}) still runs ${STOP_TIMEOUT}s after SIGTERM: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      while pid_alive "$pid"; do sleep 0.1; done
    fi
    # The exit status is known only for instances this run started; the log says the rest.
    wait "$pid" 2>/dev/null || true
    if tail -n 5 "$STATE_DIR/logs/${name}.log" 2>/dev/null | grep -q '"msg":"shutdown complete"'; then
      log "stopped ${name}: drained, shutdown complete"
    else
      warn "stopped ${name}, without 'shutdown complete' in its log (${STATE_DIR}/logs/${name}.log)"
    fi
  done
}

local_nginx() { "$NGINX_BIN" -p "$NGINX_PREFIX" -c "$NGINX_CONF" -e stderr "$@"; }

local_nginx_workers() {
  local master='' pids=()
  { read -r master <"$NGINX_PID_FILE"; } 2>/dev/null || true
  if [ -n "$master" ]; then mapfile -t pids < <(sh -c "$WORKER_PIDS_SH" sh "$master"); fi
  set_list "$1" "${pids[@]}"
}

local_upstreams_read() {
  local text=''
  [ -f "$NGINX_UPSTREAMS" ] && text="$(cat "$NGINX_UPSTREAMS")"
  printf -v "$1" '%s\n' "$text"
}

# A rename in the list's own directory, so nginx never reads half a file.
local_upstreams_write() {
  local tmp
  tmp="$(dirname "$NGINX_UPSTREAMS")/.$(basename "$NGINX_UPSTREAMS").tmp"
  cp "$1" "$tmp" && mv -f "$tmp" "$NGINX_UPSTREAMS"
}

# Nothing to add: the state dir records what runs, for the next deploy.
local_finish() { :; }
