#!/usr/bin/env bash
# The chart on the real node of test/env/node.sh: `helm install` with the images built from the
# Dockerfiles, then the operator must run as a pod under the chart's ServiceAccount, as the
# image's non-root user with a read-only root filesystem, and pass its readiness probe.
# Usage: test/env/node-smoke.sh   (the node must be started; exits non-zero on any failure)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
LOG_TAG=node-smoke
# shellcheck source=test/env/lib.sh
source test/env/lib.sh
NODE=test/env/node.sh
KUBECONFIG=$(bash "$NODE" kubeconfig)
export KUBECONFIG
HELM=$(bash test/env/helm.sh path)
k() { bash "$NODE" kubectl "$@"; }
read -r OPERATOR BRIDGE < <(bash "$NODE" images-ref)
t0=$(now_ms)
"$HELM" upgrade --install mqbridge charts/mqbridge -n mqbridge-system --create-namespace --wait --timeout 180s \
  --set image.repository="${OPERATOR%:*}" --set image.tag="${OPERATOR##*:}" --set image.pullPolicy=Never \
  --set bridgeImage.repository="${BRIDGE%:*}" --set bridgeImage.tag="${BRIDGE##*:}" >/dev/null ||
  { k -n mqbridge-system describe pods | tail -30 >&2; die "helm install did not become ready"; }
k -n mqbridge-system rollout status deployment/mqbridge --timeout=120s >/dev/null
pod=$(k -n mqbridge-system get pods -l app.kubernetes.io/component=operator -o jsonpath='{.items[0].metadata.name}')
sa=$(k -n mqbridge-system get pod "$pod" -o jsonpath='{.spec.serviceAccountName}')
[[ $sa == mqbridge ]] || die "operator pod runs as ServiceAccount '$sa', not the chart's"
ro=$(k -n mqbridge-system get pod "$pod" -o jsonpath='{.spec.containers[0].securityContext.readOnlyRootFilesystem}')
[[ $ro == true ]] || die "operator container has no read-only root filesystem"
uid=$(k -n mqbridge-system exec "$pod" -- node -e 'process.stdout.write(String(process.getuid()))')
[[ $uid != 0 ]] || die "operator runs as root"
if k -n mqbridge-system exec "$pod" -- node -e 'require("fs").writeFileSync("/app/x", "")' 2>/dev/null; then
  die "operator's root filesystem is writable"
fi
say "operator pod $pod Ready on a real kubelet (uid $uid, read-only root, ServiceAccount $sa) in $(since "$t0")"
