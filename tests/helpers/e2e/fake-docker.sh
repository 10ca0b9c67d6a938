#!/usr/bin/env bash
# A stand-in for the docker CLI, for the compose driver's command-order tests, which run without an
# engine (tests/container/ runs the driver on a real one). It keeps containers as lines in $FAKE_DOCKER_STATE/containers
# ("<id> <name> <image> <running>"), answers the few commands scripts/lib/deploy-driver-compose.sh
# runs as Docker would, and appends every invocation, with API_VERSION, to $FAKE_DOCKER_STATE/calls.
# nginx's workers are pids <generation>1 and <generation>2; each `nginx -s reload` bumps the
# generation, as a real reload replaces the workers. The upstream list inside the nginx container
# is $FAKE_DOCKER_STATE/upstreams.
set -euo pipefail

state="${FAKE_DOCKER_STATE:?}"
containers="$state/containers"
touch "$containers"
printf '%s%s\n' "${API_VERSION:+API_VERSION=$API_VERSION }" "$*" >>"$state/calls"

field() { awk -v id="$1" -v n="$2" '$1 == id { print $n }' "$containers"; }
running_ids() { awk '$4 == "true" { print $1 }' "$containers"; }

if [ "$1" = compose ]; then
  shift
  while [ "$#" -gt 0 ]; do
    case "$1" in
      -f | --env-file | -p) shift 2 ;;
      *) break ;;
    esac
  done
  command="$1"
  shift
  case "$command" in
    version) echo 'Docker Compose version v2 (fake)' ;;
    ps) if [ "${*: -1}" = nginx ]; then echo nginx0; else running_ids; fi ;;
    run) echo "Applied 0 migration(s) (fake, image tag ${API_VERSION:-latest})" ;;
    up)
      target="$(printf '%s\n' "$@" | sed -n 's/^api=//p')"
      next="$(($(cat "$state/seq" 2>/dev/null || echo 0)))"
      while [ "$(running_ids | wc -l)" -lt "$target" ]; do
        next=$((next + 1))
        echo "c$next proj-api-$next express-template:${API_VERSION:-latest} true" >>"$containers"
      done
      echo "$next" >"$state/seq"
      ;;
    exec)
      shift 2 # -T nginx
      generation="$(cat "$state/nginx-generation" 2>/dev/null || echo 1)"
      case "$1" in
        nginx)
          if [ "${*: -1}" = reload ]; then echo $((generation + 1)) >"$state/nginx-generation"; fi
          ;;
        cat) cat "$state/upstreams" 2>/dev/null || true ;;
        sh)
          if [ "${*: -1}" = 1 ]; then
            printf '%s1\n%s2\n' "$generation" "$generation" # the workers of master pid 1
          else
            cat >"$state/upstreams" # the upstream list, written from stdin
          fi
          ;;
      esac
      ;;
    *)
      echo "fake docker compose: unexpected command: $command" >&2
      exit 1
      ;;
  esac
  exit 0
fi

case "$1" in
  image) ;; # image inspect: every image exists
  inspect)
    format="$3" id="$4"
    case "$format" in
      *'.Config.Image'*) echo "/$(field "$id" 2) $(field "$id" 3)" ;;
      *'.Name'*) echo "/$(field "$id" 2)" ;;
      *'.RestartCount'*) echo "$(field "$id" 4) false 0 0" ;; # running, restarting, restarts, exit
      *'.State.Running'*) field "$id" 4 ;;
      *'.State.ExitCode'*) echo 0 ;;
    esac
    ;;
  exec) # the readiness probe
    if [ -n "${FAKE_DOCKER_NOT_READY:-}" ]; then
      echo 'HTTP 503'
      exit 1
    fi
    echo 'HTTP 200'
    ;;
  stop)
    shift 3 # stop -t <seconds>
    for id in "$@"; do sed -i "s/^$id \(.*\) true$/$id \1 false/" "$containers"; done
    ;;
  rm) sed -i "/^$2 /d" "$containers" ;;
  logs) echo '(fake logs)' ;;
  *)
    echo "fake docker: unexpected command: $1" >&2
    exit 1
    ;;
esac
