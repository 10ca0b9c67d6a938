#!/usr/bin/env bash
# Deploys an overlay with plain kubectl: the migration Job first (waiting for it to complete),
# then everything else, then waits for the rollout. A failed migration stops the deploy before
# any pod is replaced.
#
#   deploy/kubernetes/rollout.sh deploy/kubernetes/overlays/prod
set -euo pipefail

overlay="${1:?usage: $0 <overlay directory>}"
namespace="$(kubectl kustomize "$overlay" | sed -n 's/^  namespace: //p' | head -n 1)"
namespace="${namespace:?the overlay sets no namespace}"

echo "==> Migrating (job/api-migrate in $namespace)"
# A Job's pod template cannot change: the previous run's Job is replaced.
kubectl -n "$namespace" delete job api-migrate --ignore-not-found --wait=true
# The settings first: the Job reads them.
kubectl apply -k "$overlay" -l 'app.kubernetes.io/component in (settings,migration)'
if ! kubectl -n "$namespace" wait --for=condition=complete --timeout=10m job/api-migrate; then
  kubectl -n "$namespace" logs job/api-migrate --tail=50 >&2 || true
  echo "rollout: the migration did not complete; nothing else was changed" >&2
  exit 1
fi

echo "==> Rolling out"
# Everything but the Job (a selector with != also takes objects without the label).
kubectl apply -k "$overlay" -l 'app.kubernetes.io/component!=migration'
kubectl -n "$namespace" rollout status deployment/api --timeout=10m
