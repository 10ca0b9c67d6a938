#!/usr/bin/env bash
# Blue-green deploy: starts a whole new set of API instances, switches nginx to it at once when
# every one is ready, then drains the old set; a new set that never gets ready is rolled back.
#   scripts/deploy-blue-green.sh --driver compose v1.4.0       # production (Docker Compose)
#   scripts/deploy-blue-green.sh --driver local --env-file .env.prod --nginx-prefix /etc/nginx .
# The orchestration lives in scripts/lib/deploy.sh, shared with deploy-rolling.sh;
# --help lists the options.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib/deploy.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/deploy.sh"
deploy_main blue-green "$@"
