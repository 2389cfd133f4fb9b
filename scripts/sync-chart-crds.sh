#!/usr/bin/env bash
# Copies the CustomResourceDefinitions in crds/ (the source of truth) to the Helm chart's
# charts/mqbridge/files/crds/, which templates/crds.yaml renders. Idempotent: files already
# identical are left untouched; chart copies without a source in crds/ are removed.
#
# Usage: scripts/sync-chart-crds.sh [--check]
#   --check   change nothing; list the differences and exit 1 if the copies are out of sync
#             (test/unit/chart-crds.test.ts makes the same check)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SRC=crds
DST=charts/mqbridge/files/crds
check=0
case ${1:-} in
  '') ;;
  --check) check=1 ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

shopt -s nullglob
sources=("$SRC"/*.yaml)
((${#sources[@]})) || { echo "no CRDs in $SRC/" >&2; exit 1; }

stale=0
for f in "${sources[@]}"; do
  target=$DST/${f##*/}
  if ! cmp -s "$f" "$target"; then
    stale=1
    if ((check)); then
      echo "out of sync: $target (differs from $f or is missing)"
    else
      mkdir -p "$DST"
      cp "$f" "$target"
      echo "updated $target"
    fi
  fi
done
for target in "$DST"/*.yaml; do
  [[ -f $SRC/${target##*/} ]] && continue
  stale=1
  if ((check)); then
    echo "out of sync: $target has no source in $SRC/"
  else
    rm "$target"
    echo "removed $target"
  fi
done

if ((check)); then
  if ((stale)); then
    echo "run scripts/sync-chart-crds.sh to copy crds/ into the chart" >&2
    exit 1
  fi
  echo "chart CRDs in sync with $SRC/"
elif ((!stale)); then
  echo "chart CRDs already in sync with $SRC/"
fi
