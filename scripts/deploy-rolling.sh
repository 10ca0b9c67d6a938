#!/usr/bin/env bash
# Rolling deploy: replaces the API instances behind nginx one at a time, with no failed request.
#   scripts/deploy-rolling.sh --driver compose v1.4.0          # production (Docker Compose)
#   scripts/deploy-rolling.sh --driver local --env-file .env.prod --nginx-prefix /etc/nginx .
# The orchestration lives in scripts/lib/deploy.sh, shared with deploy-blue-green.sh;
# --help lists the options.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib/deploy.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/deploy.sh"
deploy_main rolling "$@"
