#!/usr/bin/env bash
# Runs every test on a fresh Debian 12 machine: installs what the suites need (apt packages,
# the pinned Bun, npm dependencies), then `bun run test`. Needs root (XDP, veth, namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
	echo "scripts/test.sh: run as root (sudo): the data-plane suites attach XDP to their own veth pairs" >&2
	exit 2
fi

# shellcheck source=scripts/deps.sh
. scripts/deps.sh
pp_install_build_deps
pp_install_test_deps
# No argument: the Bun version pinned in package.json.
# shellcheck disable=SC2119
pp_install_bun

bun install --frozen-lockfile
exec bun run test "$@"
