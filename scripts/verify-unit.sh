#!/usr/bin/env bash
# Runs `systemd-analyze verify` on systemd/pistonprotection.service.
# verify insists that ExecStart binaries exist, and on a build machine nothing is installed
# at /usr/local/bin yet, so it checks a copy of the unit whose binary path points at the
# built executable (default dist/pistonprotection, or the path given as $1).
#
#   scripts/verify-unit.sh [BINARY]
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
binary="$(realpath -e "${1:-$repo/dist/pistonprotection}")" || {
	echo "verify-unit: no binary at ${1:-$repo/dist/pistonprotection}; run 'bun run build' first" >&2
	exit 2
}
command -v systemd-analyze >/dev/null || {
	echo "verify-unit: systemd-analyze not found (Debian package: systemd)" >&2
	exit 2
}

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# The unit keeps its name: verify derives the unit type from it.
sed "s#/usr/local/bin/pistonprotection#${binary}#g" \
	"$repo/systemd/pistonprotection.service" >"$work/pistonprotection.service"

# verify prints problems on stderr and may still exit 0 for some of them (unknown keys,
# bad values), so any output at all is a failure.
out="$(cd "$work" && SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no ./pistonprotection.service 2>&1)" || {
	printf '%s\n' "$out" >&2
	echo "verify-unit: systemd-analyze verify failed" >&2
	exit 1
}
if [ -n "$out" ]; then
	printf '%s\n' "$out" >&2
	echo "verify-unit: systemd-analyze verify reported problems" >&2
	exit 1
fi
echo "verify-unit: systemd/pistonprotection.service ok (binary: $binary)"
