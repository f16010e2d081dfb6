#!/usr/bin/env bash
# Debian's packages the tests drive, installed when absent (`make test` and .ci/run call this): PostgreSQL, for
# the API database tests' real server, and Chromium, which the UI tests drive headless through Playwright
# (Playwright's own browser builds are never downloaded). Needs root and apt-get; otherwise says what to install.
set -euo pipefail
need=()
if ! command -v initdb >/dev/null 2>&1 && ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  need+=(postgresql)
fi
command -v chromium >/dev/null 2>&1 || [ -n "${CLAWTRACE_CHROMIUM:-}" ] || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian packages for the tests: ${need[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
else
  echo "the tests need: ${need[*]} (sudo apt-get install ${need[*]})" >&2
  exit 1
fi
