# shellcheck shell=bash
# The compose driver of scripts/lib/deploy.sh (production): instances are containers of the API
# service of a Docker Compose v2 project (docker-compose.prod.yml), on the project's network, named
# by Compose (<project>-api-<n>); nginx is the project's nginx service. The live upstream list is
# a file inside the nginx container (a tmpfs, NGINX_UPSTREAMS_IN_CONTAINER), written through
# `docker compose exec`, so a deploy never touches the host's files and each project (dev, prod,
# a test run) has its own. Docker is the state: the service's running containers are the
# instances, and their image tag is their version.
#
# Proven on a real engine by the container tier (tests/container/): both strategies under load,
# crashing and never-ready releases rolled back, through the shipped compose file and nginx.
#
# Implements the operations of the driver contract (scripts/lib/README.md) as compose_<operation>;
# deploy.sh sources this file and sets the options.
# shellcheck disable=SC2153,SC2154 # the option variables are defined in deploy.sh, which sources this

# Where docker-compose.prod.yml's nginx keeps the list it includes (its tmpfs).
readonly NGINX_UPSTREAMS_IN_CONTAINER=/etc/nginx/upstreams/api.conf

compose() {
  local args=(-f "$COMPOSE_FILE" --env-file "$ENV_FILE")
  if [ -n "$PROJECT_NAME" ]; then args+=(-p "$PROJECT_NAME"); fi
  docker compose "${args[@]}" "$@"
}

compose_check() {
  command -v docker >/dev/null 2>&1 ||
    usage_error "docker not found: the compose driver needs Docker Engine and its compose plugin (--driver local runs plain processes)"
  docker compose version >/dev/null 2>&1 || usage_error "'docker compose' (Compose v2) is not available"
  [ -f "$COMPOSE_FILE" ] || usage_error "compose file not found: $COMPOSE_FILE (--compose-file)"
  [ -f "$ENV_FILE" ] || usage_error "env file not found: $ENV_FILE (--env-file)"

  # The image the compose file names: ${API_IMAGE:-express-template}:${API_VERSION}.
  local image="${API_IMAGE:-$(sed -n 's/^[[:space:]]*API_IMAGE=//p' "$ENV_FILE" | tail -n 1)}"
  image="${image:-express-template}:${VERSION}"
  if ! docker image inspect "$image" >/dev/null 2>&1; then
    API_VERSION="$VERSION" compose pull --quiet "$SERVICE" >/dev/null 2>&1 || true
    docker image inspect "$image" >/dev/null 2>&1 ||
      usage_error "image $image not found: build it (API_VERSION=$VERSION docker compose -f $COMPOSE_FILE build $SERVICE) or push it to your registry"
  fi
  [ -n "$(compose ps -q "$NGINX_SERVICE")" ] ||
    usage_error "the $NGINX_SERVICE service is not running: 'docker compose -f $COMPOSE_FILE --env-file $ENV_FILE up -d' first"
  compose exec -T "$NGINX_SERVICE" test -w "$NGINX_UPSTREAMS_IN_CONTAINER" ||
    usage_error "the $NGINX_SERVICE container has no writable $NGINX_UPSTREAMS_IN_CONTAINER: give it the tmpfs and start command of this repository's docker-compose.prod.yml, then 'docker compose up -d $NGINX_SERVICE'"
  local output
  output="$(compose_nginx -t 2>&1)" || usage_error "nginx -t fails before any change:
$output"
}

compose_list() {
  local id name image rec records=()
  while read -r id; do
    [ -n "$id" ] || continue
    read -r name image < <(docker inspect -f '{{.Name}} {{.Config.Image}}' "$id" </dev/null)
    name="${name#/}"
    make_rec rec "$name" "${name}:${APP_PORT}" "$id" "${image##*:}"
    records+=("$rec")
  done < <(compose ps -q "$SERVICE")
  set_list "$1" "${records[@]}"
}

# Docker keeps the state.
compose_save() { :; }

compose_migrate() { API_VERSION="$1" compose run --rm -T migrate; }

# Scales the service up by <count> containers of <version>, leaving the running ones as they are.
compose_start() {
  local version="$2" count="$3" before=() after=() records=() id name rec output
  mapfile -t before < <(compose ps -q "$SERVICE")
  if ! output="$(API_VERSION="$version" compose up -d --no-deps --no-recreate \
    --scale "${SERVICE}=$((${#before[@]} + count))" "$SERVICE" 2>&1)"; then
    printf '%s\n' "$output" | indent >&2
    fail "$EXIT_FAILED" "docker compose up could not start ${count} new ${SERVICE} container(s)"
  fi
  mapfile -t after < <(compose ps -q "$SERVICE")
  for id in "${after[@]}"; do
    contains "$id" "${before[@]}" && continue
    name="$(docker inspect -f '{{.Name}}' "$id")"
    name="${name#/}"
    make_rec rec "$name" "${name}:${APP_PORT}" "$id" "$version"
    records+=("$rec")
  done
  [ "${#records[@]}" -eq "$count" ] ||
    fail "$EXIT_FAILED" "expected ${count} new ${SERVICE} container(s), found ${#records[@]}"
  set_list "$1" "${records[@]}"
}

compose_describe() {
  local id
  rec_fields "$2" _ _ id _
  printf -v "$1" 'container %s' "${id:0:12}"
}

# Asks from inside the container, so the probe needs no published port.
# shellcheck disable=SC2016 # JavaScript, not shell
readonly READY_PROBE_JS='fetch("http://127.0.0.1:" + (process.env.PORT || 3001) + "/health/ready", { signal: AbortSignal.timeout(2000) }).then((r) => { console.log("HTTP " + r.status); process.exit(r.status === 200 ? 0 : 1); }, (e) => { console.log(e.message); process.exit(1); })'

# 0: ready; 1: not yet; 2: the container stopped, or crashed and was restarted by the service's
# restart policy: a new instance that crashed even once before it was ready is a failed release,
# rolled back at once instead of after the policy's attempts. The detail says what it answered,
# or how it ended.
compose_probe() {
  local id status=0 detail state running restarting restarts code
  rec_fields "$2" _ _ id _
  state="$(docker inspect -f '{{.State.Running}} {{.State.Restarting}} {{.RestartCount}} {{.State.ExitCode}}' "$id" 2>/dev/null)" ||
    state='false false 0 ?'
  read -r running restarting restarts code <<<"$state"
  if [ "$restarting" = true ] || [ "$restarts" != 0 ]; then
    # (its exit status is gone: the restart reset it)
    printf -v "$1" 'crashed (restarted %s time(s) by its restart policy)' "$restarts"
    return 2
  fi
  if [ "$running" != true ]; then
    printf -v "$1" 'exited (status %s)' "$code"
    return 2
  fi
  detail="$(docker exec "$id" node -e "$READY_PROBE_JS" 2>&1)" || status=1
  printf -v "$1" '%s' "$detail"
  return "$status"
}

compose_log_tail() {
  local name id
  rec_fields "$1" name _ id _
  printf 'last lines of docker logs %s:\n' "$name"
  docker logs --tail 5 "$id" 2>&1 | cut -c 1-400 || true
}

# `docker stop` sends SIGTERM (through tini, `init: true`) and SIGKILLs after the timeout.
compose_stop() {
  local rec name id ids=() code
  for rec in "$@"; do
    rec_fields "$rec" _ _ id _
    ids+=("$id")
  done
  docker stop -t "$STOP_TIMEOUT" "${ids[@]}" >/dev/null
  for rec in "$@"; do
    rec_fields "$rec" name _ id _
    code="$(docker inspect -f '{{.State.ExitCode}}' "$id" 2>/dev/null || echo '?')"
    if [ "$code" = 0 ]; then
      log "stopped ${name}: exit status 0"
    else
      warn "stopped ${name}: exit status ${code}; its last lines:"
      compose_log_tail "$rec" | indent >&2
    fi
    docker rm "$id" >/dev/null || warn "could not remove container ${name}"
  done
}

compose_nginx() { compose exec -T "$NGINX_SERVICE" nginx -e stderr "$@"; }

# nginx runs as PID 1 of its container (the official image execs it).
compose_nginx_workers() {
  local pids=()
  mapfile -t pids < <(compose exec -T "$NGINX_SERVICE" sh -c "$WORKER_PIDS_SH" sh 1)
  set_list "$1" "${pids[@]}"
}

compose_upstreams_read() {
  local text
  text="$(compose exec -T "$NGINX_SERVICE" cat "$NGINX_UPSTREAMS_IN_CONTAINER")" || return 1
  printf -v "$1" '%s\n' "$text"
}

# Written beside the list, then renamed over it, so nginx never reads half a file.
compose_upstreams_write() {
  # shellcheck disable=SC2016 # expanded by the container's sh
  compose exec -T "$NGINX_SERVICE" sh -c 'cat >"$1.tmp" && mv -f "$1.tmp" "$1"' sh \
    "$NGINX_UPSTREAMS_IN_CONTAINER" <"$1"
}

compose_finish() {
  log "note: set API_VERSION=${VERSION} in ${ENV_FILE}, or a later 'docker compose up' recreates the ${SERVICE} containers from another tag"
}
