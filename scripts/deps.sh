# shellcheck shell=bash
# The packages PistonProtection needs, listed once. Sourced by install.sh and by the test
# command; each function installs only what is missing (dpkg-query), runs `apt-get update`
# only when something is, and so is fast and works offline on a second run.
#
#   . scripts/deps.sh
#   pp_install_runtime_deps     what the installed daemon needs
#   pp_install_build_deps       what `bun run build` needs (BPF objects, Bun through npm)
#   pp_install_test_deps        what the whole test suite needs (runtime deps included)
#   pp_install_bun [VERSION]    Bun through npm when `bun --version` differs; the version
#                               defaults to package.json's "packageManager": "bun@…"

# libbpf1: the daemon loads the XDP program through libbpf (FFI). iproute2: `ip` for
# interfaces and XDP state. openssl: the self-signed certificate at first start. curl: the
# installer's health check.
PP_RUNTIME_PACKAGES=(libbpf1 iproute2 openssl ca-certificates curl util-linux procps)

# clang/llvm: compile bpf/*.bpf.c; libbpf-dev: bpf_helpers.h and friends; linux-libc-dev:
# the kernel UAPI headers; bpftool: inspecting objects; git: the commit in the version.
PP_BUILD_PACKAGES=(clang llvm libbpf-dev linux-libc-dev bpftool git)

# For the install tests: shellcheck, and systemd for systemd-analyze. For the end-to-end
# peers: nftables, haproxy, tcpdump, ping and python3 (raw frames); chromium for the UI tests; python3-grpcio and
# python3-grpc-tools for the gRPC interoperability client; iperf3 and wrk for the benchmarks;
# libmaxmind-db-writer-perl writes the small GeoIP (mmdb) fixtures the tests build.
PP_TEST_PACKAGES=(shellcheck systemd nftables haproxy tcpdump iperf3 wrk hping3 iputils-ping python3 chromium
	python3-grpcio python3-grpc-tools libmaxmind-db-writer-perl)

pp_deps_log() { printf '==> %s\n' "$*" >&2; }

# Prints the packages among "$@" that are not installed.
pp_missing_packages() {
	local pkg
	for pkg in "$@"; do
		if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$'; then
			printf '%s\n' "$pkg"
		fi
	done
}

# Installs the packages among "$@" that are missing; does nothing (and needs no network)
# when all are present.
pp_apt_install() {
	local missing=()
	mapfile -t missing < <(pp_missing_packages "$@")
	if [ "${#missing[@]}" -eq 0 ]; then
		return 0
	fi
	pp_deps_log "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

pp_install_runtime_deps() {
	pp_apt_install "${PP_RUNTIME_PACKAGES[@]}"
}

pp_install_build_deps() {
	pp_apt_install "${PP_BUILD_PACKAGES[@]}"
	# A Node.js from elsewhere (e.g. NodeSource) brings its own npm and conflicts with
	# Debian's npm package, so look for the command, not the package.
	if ! command -v npm >/dev/null 2>&1; then
		pp_apt_install nodejs npm
	fi
}

# The suites run the daemon, so the runtime packages come along.
pp_install_test_deps() {
	pp_apt_install "${PP_RUNTIME_PACKAGES[@]}" "${PP_TEST_PACKAGES[@]}"
}

# The Bun version package.json pins ("packageManager": "bun@1.4.5").
pp_pinned_bun_version() {
	local package_json
	package_json="$(dirname "${BASH_SOURCE[0]}")/../package.json"
	sed -n 's/.*"packageManager":[[:space:]]*"bun@\([^"]*\)".*/\1/p' "$package_json"
}

# pp_install_bun [VERSION]: installs bun@VERSION (default: the pinned one) globally through
# npm unless that version is already the `bun` on PATH.
pp_install_bun() {
	local want="${1:-$(pp_pinned_bun_version)}" have=""
	if [ -z "$want" ]; then
		pp_deps_log "no bun version given and none pinned in package.json"
		return 1
	fi
	if command -v bun >/dev/null 2>&1; then
		have="$(bun --version 2>/dev/null || true)"
	fi
	if [ "$have" = "$want" ]; then
		return 0
	fi
	pp_deps_log "installing bun ${want} with npm (found: ${have:-none})"
	npm install -g --no-fund --no-audit "bun@${want}" >/dev/null
	hash -r
}
