# shellcheck shell=bash
# The compose driver of scripts/lib/deploy.sh (production): instances are containers of the API
# service of a Docker Compose v2 project (docker-compose.prod.yml), on the project's network, named
# by Compose (<project>-api-<n>); nginx is the project's nginx service, which mounts
# nginx/upstreams/ from the host, so rewriting the file here and reloading nginx in its container
# switches traffic. Docker is the state: the service's running containers are the instances, and
# their image tag is their version.
#
# UNVERIFIED against a real engine: no Docker engine runs where this template is tested. The
# orchestration is the one the local driver runs under load in the e2e tests; this file only maps
# its operations onto docker commands, whose order tests/e2e/deploy-compose-driver.test.ts checks
# against a fake docker CLI.
#
# Each compose_<operation> is called as `driver <operation>` by deploy.sh, which sets the options.
# shellcheck disable=SC2153,SC2154 # the option variables are defined in deploy.sh, which sources this

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
  : "${NGINX_UPSTREAMS:=$(dirname "$COMPOSE_FILE")/nginx/upstreams/api.conf}"
  [ -w "$(dirname "$NGINX_UPSTREAMS")" ] || usage_error "cannot write the upstream list $NGINX_UPSTREAMS (--nginx-upstreams)"

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
  local output
  output="$(compose_nginx -t 2>&1)" || usage_error "nginx -t fails before any change:
$output"
}

compose_list() {
  CURRENT=()
  local id name image
  while read -r id; do
    [ -n "$id" ] || continue
    read -r name image < <(docker inspect -f '{{.Name}} {{.Config.Image}}' "$id" </dev/null)
    name="${name#/}"
    CURRENT+=("$(make_rec "$name" "${name}:${APP_PORT}" "$id" "${image##*:}")")
  done < <(compose ps -q "$SERVICE")
}

# Docker keeps the state.
compose_save() { :; }

compose_migrate() { API_VERSION="$1" compose run --rm -T migrate; }

# Scales the service up by $2 containers of version $1, leaving the running ones as they are.
compose_start() {
  local version="$1" count="$2" before=() after=() id name output
  STARTED_NOW=()
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
    STARTED_NOW+=("$(make_rec "$name" "${name}:${APP_PORT}" "$id" "$version")")
  done
  [ "${#STARTED_NOW[@]}" -eq "$count" ] ||
    fail "$EXIT_FAILED" "expected ${count} new ${SERVICE} container(s), found ${#STARTED_NOW[@]}"
}

compose_describe() {
  parse_rec "$1"
  printf 'container %s' "${R_HANDLE:0:12}"
}

# Asks from inside the container, so the probe needs no published port.
# shellcheck disable=SC2016 # JavaScript, not shell
readonly READY_PROBE_JS='fetch("http://127.0.0.1:" + (process.env.PORT || 3001) + "/health/ready", { signal: AbortSignal.timeout(2000) }).then((r) => { console.log("HTTP " + r.status); process.exit(r.status === 200 ? 0 : 1); }, (e) => { console.log(e.message); process.exit(1); })'

# 0: ready; 1: not yet (PROBE_DETAIL says what it answered); 2: the container stopped.
compose_probe() {
  parse_rec "$1"
  if [ "$(docker inspect -f '{{.State.Running}}' "$R_HANDLE" 2>/dev/null)" != true ]; then
    PROBE_DETAIL="exited (status $(docker inspect -f '{{.State.ExitCode}}' "$R_HANDLE" 2>/dev/null || echo '?'))"
    return 2
  fi
  # shellcheck disable=SC2034 # read by deploy.sh
  PROBE_DETAIL="$(docker exec "$R_HANDLE" node -e "$READY_PROBE_JS" 2>&1)" && return 0
  return 1
}

compose_log_tail() {
  parse_rec "$1"
  printf 'last lines of docker logs %s:\n' "$R_NAME"
  docker logs --tail 5 "$R_HANDLE" 2>&1 | cut -c 1-400 || true
}

# `docker stop` sends SIGTERM (through tini, `init: true`) and SIGKILLs after the timeout.
compose_stop() {
  local rec ids=() code
  for rec in "$@"; do
    parse_rec "$rec"
    ids+=("$R_HANDLE")
  done
  docker stop -t "$STOP_TIMEOUT" "${ids[@]}" >/dev/null
  for rec in "$@"; do
    parse_rec "$rec"
    code="$(docker inspect -f '{{.State.ExitCode}}' "$R_HANDLE" 2>/dev/null || echo '?')"
    if [ "$code" = 0 ]; then
      log "stopped ${R_NAME}: exit status 0"
    else
      warn "stopped ${R_NAME}: exit status ${code}; its last lines:"
      compose_log_tail "$rec" | indent >&2
    fi
    docker rm "$R_HANDLE" >/dev/null || warn "could not remove container ${R_NAME}"
  done
}

# nginx runs as PID 1 of its container (the official image execs it).
compose_nginx() { compose exec -T "$NGINX_SERVICE" nginx -e stderr "$@"; }
compose_nginx_sh() { compose exec -T "$NGINX_SERVICE" sh -c "$1" sh "${@:2}"; }
compose_nginx_master() { printf '1'; }
compose_upstreams_file() { printf '%s' "$NGINX_UPSTREAMS"; }

compose_finish() {
  log "note: set API_VERSION=${VERSION} in ${ENV_FILE}, or a later 'docker compose up' recreates the ${SERVICE} containers from another tag"
}
