#!/usr/bin/env bash
# layering_check_test.sh CMAKE SCRIPT - cmake/check_layering.cmake passes a
# clean ctl/ tree and fails, naming the file, on one with a <linux/...> include.
set -euo pipefail
cmake=$1 script=$2
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
mkdir -p "$tree/ctl/sub"
echo '#include <string>' >"$tree/ctl/ok.cpp"
"$cmake" -DROOT="$tree" -P "$script" || { echo "FAIL: a clean tree was refused"; exit 1; }
echo '  #include <linux/if_tun.h>' >"$tree/ctl/sub/bad.h"
if out=$("$cmake" -DROOT="$tree" -P "$script" 2>&1); then
  echo "FAIL: a <linux/...> include under ctl/ passed"
  exit 1
fi
grep -q 'ctl/sub/bad.h' <<<"$out" || { echo "FAIL: the refusal does not name the file: $out"; exit 1; }
echo "ok: refused with: $out"
