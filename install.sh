#!/usr/bin/env bash
# install.sh: install, upgrade or uninstall PistonProtection on Debian or Ubuntu, as root.
#
# Idempotent: a second run with the same source changes nothing (no file is rewritten, the
# daemon keeps running). A run on an older installation replaces the binary and restarts the
# daemon; the configuration and the data are kept. Run with --help for the options.
set -euo pipefail

SRC_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly SRC_DIR
readonly SERVICE=pistonprotection
readonly CLEAN_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

usage() {
	cat <<EOF
Usage: ./install.sh [options]

Installs PistonProtection as a service: builds the binary from this source tree, installs it
to /usr/local/bin/pistonprotection, writes /etc/pistonprotection/config.toml (0600, only if
it does not exist), keeps state in /var/lib/pistonprotection (0750), creates the admin
account on the first install and prints its password once, and starts the daemon (the
systemd unit where systemd runs the host; otherwise in the background, with its pid in
/run/pistonprotection.pid and its log in /var/log/pistonprotection.log).
Running it again changes nothing unless the source changed (then it upgrades and restarts).

Options:
  --unattended           never prompt (default when standard input is not a terminal)
  --no-start             install only; do not start or restart the daemon
  --interface IFACE      protect IFACE: attach the XDP filter to it (repeatable). Without it
                         nothing is attached. With an existing config, replaces
                         dataplane.interfaces and restarts the daemon.
  --admin-email EMAIL    the admin account's email on the first install (admin@localhost)
  --uninstall            stop the daemon, detach XDP, remove pins, the binary and the unit;
                         keeps the config and the data
  --purge                with --uninstall: also remove the config, the data and the log
  --skip-deps            do not install packages (apt, npm); use what is present
  -h, --help             show this help

Test and packaging options:
  --root DIR             install everything under DIR (binary, config, data, unit, pid and log
                         files) and run the daemon from there in the background; the systemd
                         unit is written but never enabled or started
  --binary FILE          install this prebuilt executable instead of building from source
                         (no build dependencies are needed)
  --http-listen ADDR     server.http_listen for a newly written config (host:port)
  --https-listen ADDR    server.https_listen for a newly written config
  --grpc-listen ADDR     server.grpc_listen for a newly written config
  --pin-path PATH        dataplane.pin_path for a newly written config (under /sys/fs/bpf/)

Exit status: 0 success, 1 failure, 2 bad usage.
EOF
}

log() { printf '==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
	printf 'error: %s\n' "$*" >&2
	exit 1
}
usage_error() {
	printf 'install.sh: %s\n' "$*" >&2
	printf "Run './install.sh --help' for usage.\n" >&2
	exit 2
}

# Every change this run makes is recorded; none means the run was a no-op.
CHANGES=()
changed() {
	CHANGES+=("$1")
	log "$1"
}

# --- Options ---

UNATTENDED=0
NO_START=0
UNINSTALL=0
PURGE=0
SKIP_DEPS=0
INTERFACES=()
ADMIN_EMAIL=admin@localhost
ROOT=""
BINARY_SRC=""
HTTP_LISTEN=""
HTTPS_LISTEN=""
GRPC_LISTEN=""
PIN_PATH=""

LISTEN_RE='^(\[[0-9a-fA-F:.]+\]|[^][:space:]:"]+):[0-9]{1,5}$'
IFACE_RE='^[A-Za-z0-9_.:@-]{1,15}$'
PIN_RE='^/sys/fs/bpf/[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$'

parse_args() {
	local opt value
	while [ "$#" -gt 0 ]; do
		opt="$1"
		value=""
		case "$opt" in
		--*=*)
			value="${opt#*=}"
			opt="${opt%%=*}"
			;;
		--interface | --admin-email | --root | --binary | --http-listen | --https-listen | --grpc-listen | --pin-path)
			[ "$#" -ge 2 ] || usage_error "$opt needs a value"
			value="$2"
			shift
			;;
		esac
		case "$opt" in
		--unattended) UNATTENDED=1 ;;
		--no-start) NO_START=1 ;;
		--uninstall) UNINSTALL=1 ;;
		--purge) PURGE=1 ;;
		--skip-deps) SKIP_DEPS=1 ;;
		-h | --help)
			usage
			exit 0
			;;
		--interface)
			[[ "$value" =~ $IFACE_RE ]] || usage_error "--interface: '$value' is not an interface name"
			INTERFACES+=("$value")
			;;
		--admin-email)
			[[ "$value" =~ ^[^[:space:]@]+@[^[:space:]@]+$ ]] || usage_error "--admin-email: '$value' is not an email address"
			ADMIN_EMAIL="$value"
			;;
		--root)
			[[ "$value" == /* ]] || usage_error "--root needs an absolute path"
			ROOT="$(realpath -m "$value")"
			[ "$ROOT" != / ] || ROOT=""
			;;
		--binary)
			if [ ! -f "$value" ] || [ ! -x "$value" ]; then
				usage_error "--binary: '$value' is not an executable file"
			fi
			BINARY_SRC="$(realpath "$value")"
			;;
		--http-listen | --https-listen | --grpc-listen)
			[[ "$value" =~ $LISTEN_RE ]] || usage_error "$opt: '$value' is not host:port"
			case "$opt" in
			--http-listen) HTTP_LISTEN="$value" ;;
			--https-listen) HTTPS_LISTEN="$value" ;;
			--grpc-listen) GRPC_LISTEN="$value" ;;
			esac
			;;
		--pin-path)
			[[ "$value" =~ $PIN_RE ]] || usage_error "--pin-path: '$value' must be a path under /sys/fs/bpf/"
			PIN_PATH="$value"
			;;
		*) usage_error "unknown option '$1'" ;;
		esac
		shift
	done
	if [ "$PURGE" -eq 1 ] && [ "$UNINSTALL" -eq 0 ]; then
		usage_error "--purge only goes with --uninstall"
	fi
}

parse_args "$@"

[ "$(id -u)" -eq 0 ] || die "run install.sh as root (sudo ./install.sh)"

# --- Paths: the real ones, or under --root ---

readonly BIN="$ROOT/usr/local/bin/$SERVICE"
readonly CONF_DIR="$ROOT/etc/$SERVICE"
readonly CONF="$CONF_DIR/config.toml"
readonly DATA_DIR="$ROOT/var/lib/$SERVICE"
readonly UNIT="$ROOT/etc/systemd/system/$SERVICE.service"
readonly PID_FILE="$ROOT/run/$SERVICE.pid"
readonly LOG_FILE="$ROOT/var/log/$SERVICE.log"

# systemd manages the daemon only when it runs the host (sd_booted) and this is not a
# staging root.
USE_SYSTEMD=0
if [ -z "$ROOT" ] && [ -d /run/systemd/system ]; then
	USE_SYSTEMD=1
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# Runs an installed (or candidate) binary with a clean environment and umask, as systemd
# would: PP_* variables of the caller's shell must not redirect it to another config or data
# dir, and the database it may create is root's alone.
run_pp() {
	local binary="$1"
	shift
	(umask 077 && exec env -i PATH="$CLEAN_PATH" LANG=C.UTF-8 "$binary" "$@")
}

confirm() {
	if [ "$UNATTENDED" -eq 1 ] || [ ! -t 0 ]; then
		return 0
	fi
	local reply
	read -r -p "$1 [y/N] " reply
	[[ "$reply" =~ ^[Yy] ]]
}

# --- The daemon: systemd unit or background process ---

# True while PID exists and is not a zombie waiting to be reaped.
process_alive() {
	[ -e "/proc/$1" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]
}

# Prints the pid of the background daemon started from $BIN, if it runs.
background_pid() {
	local pid exe
	[ -f "$PID_FILE" ] || return 1
	pid="$(<"$PID_FILE")"
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	exe="$(readlink "/proc/$pid/exe" 2>/dev/null)" || return 1
	# After an upgrade replaced the file, the old process's exe reads "… (deleted)".
	[ "${exe% (deleted)}" = "$BIN" ] || return 1
	printf '%s\n' "$pid"
}

daemon_running() {
	if [ "$USE_SYSTEMD" -eq 1 ]; then
		systemctl is-active --quiet "$SERVICE"
	else
		background_pid >/dev/null
	fi
}

stop_background() {
	local pid i
	pid="$(background_pid)" || {
		rm -f "$PID_FILE"
		return 0
	}
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 150; i++)); do
		process_alive "$pid" || break
		sleep 0.2
	done
	if process_alive "$pid"; then
		warn "daemon (pid $pid) did not stop within 30 s; killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$PID_FILE"
}

stop_daemon() {
	if [ "$USE_SYSTEMD" -eq 1 ]; then
		systemctl stop "$SERVICE"
	fi
	# Also a background daemon left by an install made before systemd ran the host.
	stop_background
}

# host:port for the health check, from server.http_listen in the config.
health_address() {
	local listen host port
	listen="$(sed -n 's/^[[:space:]]*http_listen[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' "$CONF" | head -n1)"
	[ -n "$listen" ] || listen="127.0.0.1:8080"
	host="${listen%:*}"
	port="${listen##*:}"
	case "$host" in
	0.0.0.0 | "") host=127.0.0.1 ;;
	"[::]") host="[::1]" ;;
	esac
	printf '%s:%s\n' "$host" "$port"
}

# wait_healthy PID LOG_OFFSET: waits until /healthz answers; fails early when the process exits.
wait_healthy() {
	local pid="$1" offset="$2" address port i
	address="$(health_address)"
	for ((i = 0; i < 150; i++)); do
		if [ -n "$pid" ] && ! process_alive "$pid"; then
			warn "the daemon exited during start-up; the end of $LOG_FILE:"
			tail -c +"$((offset + 1))" "$LOG_FILE" | tail -n 20 >&2
			return 1
		fi
		if [ "$USE_SYSTEMD" -eq 1 ] && systemctl is-failed --quiet "$SERVICE"; then
			warn "the service failed to start; see: journalctl -u $SERVICE"
			journalctl -u "$SERVICE" -n 20 --no-pager >&2 || true
			return 1
		fi
		# Port 0 in the config means "any": the daemon logs the port it bound.
		if [ "${address##*:}" = 0 ] && [ -n "$pid" ]; then
			port="$(tail -c +"$((offset + 1))" "$LOG_FILE" | sed -n 's/.*"msg":"listening".*"http":\([0-9]*\).*/\1/p' | head -n1)"
			[ -z "$port" ] || address="${address%:*}:$port"
		fi
		if [ "${address##*:}" != 0 ] && curl -fsS --max-time 2 -o /dev/null "http://$address/healthz" 2>/dev/null; then
			HEALTH_URL="http://$address/healthz"
			return 0
		fi
		sleep 0.2
	done
	warn "the daemon did not answer http://$address/healthz within 30 s"
	return 1
}

start_background() {
	local offset pid
	install -d -m 0755 "$(dirname "$PID_FILE")" "$(dirname "$LOG_FILE")"
	[ -f "$LOG_FILE" ] || install -m 0640 /dev/null "$LOG_FILE"
	offset="$(stat -c %s "$LOG_FILE")"
	# setsid: its own session, so it outlives this shell and its terminal. setsid and env
	# exec in place, so $! is the daemon's pid.
	# umask 077 as the unit's UMask=: the database and keys are root's alone.
	(cd / && umask 077 && exec setsid env -i PATH="$CLEAN_PATH" LANG=C.UTF-8 \
		"$BIN" serve --config "$CONF" >>"$LOG_FILE" 2>&1 </dev/null) &
	pid=$!
	printf '%s\n' "$pid" >"$PID_FILE"
	wait_healthy "$pid" "$offset" || die "the daemon did not start; see $LOG_FILE"
	DAEMON_PID="$pid"
}

start_daemon() {
	if [ "$USE_SYSTEMD" -eq 1 ]; then
		systemctl start "$SERVICE"
		wait_healthy "" 0 || die "the service did not start; see: journalctl -u $SERVICE"
		DAEMON_PID="$(systemctl show -p MainPID --value "$SERVICE")"
	else
		start_background
	fi
}

mount_bpffs() {
	if mountpoint -q /sys/fs/bpf; then
		return 0
	fi
	mount -t bpf -o mode=0700 bpf /sys/fs/bpf || die "cannot mount bpffs at /sys/fs/bpf"
	changed "mounted bpffs at /sys/fs/bpf"
}

# --- Config ---

# toml_set KEY VALUE FILE: replaces the first uncommented "KEY = …" line (VALUE is TOML).
toml_set() {
	local key="$1" value="$2" file="$3"
	grep -Eq "^[[:space:]]*${key}[[:space:]]*=" "$file" || die "no '$key = …' line in $file"
	awk -v key="$key" -v value="$value" '
		!done && $0 ~ "^[[:space:]]*" key "[[:space:]]*=" { print key " = " value; done = 1; next }
		{ print }
	' "$file" >"$file.tmp"
	mv "$file.tmp" "$file"
}

toml_get() {
	sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*//p" "$2" | head -n1
}

interfaces_toml() {
	local out="" iface
	for iface in "$@"; do
		out+="${out:+, }\"$iface\""
	done
	printf '[%s]' "$out"
}

# Writes the config on the first install; on later runs only --interface may change it.
ensure_config() {
	local candidate="$1" new="$WORK/config.toml"
	install -d -m 0750 "$CONF_DIR"
	if [ ! -e "$CONF" ]; then
		cp "$SRC_DIR/config/config.example.toml" "$new"
		toml_set data_dir "\"$DATA_DIR\"" "$new"
		toml_set interfaces "$(interfaces_toml "${INTERFACES[@]}")" "$new"
		[ -z "$HTTP_LISTEN" ] || toml_set http_listen "\"$HTTP_LISTEN\"" "$new"
		[ -z "$HTTPS_LISTEN" ] || toml_set https_listen "\"$HTTPS_LISTEN\"" "$new"
		[ -z "$GRPC_LISTEN" ] || toml_set grpc_listen "\"$GRPC_LISTEN\"" "$new"
		[ -z "$PIN_PATH" ] || toml_set pin_path "\"$PIN_PATH\"" "$new"
		run_pp "$candidate" config check --config "$new" >/dev/null ||
			die "the generated config does not validate (see above)"
		install -m 0600 "$new" "$CONF"
		changed "wrote $CONF"
		return 0
	fi

	local key flag value current
	for key in http_listen https_listen grpc_listen pin_path; do
		case "$key" in
		http_listen) flag=--http-listen value="$HTTP_LISTEN" ;;
		https_listen) flag=--https-listen value="$HTTPS_LISTEN" ;;
		grpc_listen) flag=--grpc-listen value="$GRPC_LISTEN" ;;
		pin_path) flag=--pin-path value="$PIN_PATH" ;;
		esac
		current="$(toml_get "$key" "$CONF")"
		if [ -n "$value" ] && [ "$current" != "\"$value\"" ]; then
			warn "$flag ignored: $CONF exists and is kept (it has $key = $current); edit it to change"
		fi
	done

	if [ "${#INTERFACES[@]}" -gt 0 ]; then
		local wanted
		wanted="$(interfaces_toml "${INTERFACES[@]}")"
		current="$(toml_get interfaces "$CONF")"
		if [ "$current" != "$wanted" ]; then
			[[ "$current" =~ ^\[.*\]$ ]] ||
				die "dataplane.interfaces in $CONF is not on one line; set it to $wanted by hand"
			cp -p "$CONF" "$new"
			toml_set interfaces "$wanted" "$new"
			run_pp "$candidate" config check --config "$new" >/dev/null ||
				die "$CONF with interfaces = $wanted does not validate (see above)"
			chmod 0600 "$new"
			mv "$new" "$CONF"
			changed "set dataplane.interfaces = $wanted in $CONF"
			CONFIG_CHANGED=1
		fi
	fi
	# An upgrade must not start a binary that rejects the kept config: check it first.
	run_pp "$candidate" config check --config "$CONF" >/dev/null ||
		die "$CONF does not validate with the new version (see above); fix it and rerun"
	if [ "$(stat -c %a "$CONF")" != 600 ]; then
		chmod 0600 "$CONF"
		changed "set the mode of $CONF to 0600"
	fi
}

# --- Build ---

install_deps() {
	if [ "$SKIP_DEPS" -eq 1 ]; then
		return 0
	fi
	command -v apt-get >/dev/null || die "apt-get not found: install.sh supports Debian and Ubuntu (or use --skip-deps)"
	# shellcheck source=scripts/deps.sh disable=SC1091
	. "$SRC_DIR/scripts/deps.sh"
	log "checking packages"
	pp_install_runtime_deps
	if [ -z "$BINARY_SRC" ]; then
		pp_install_build_deps
		pp_install_bun "$(pp_pinned_bun_version)"
	fi
}

# Sets CANDIDATE to the binary to install: --binary, or a fresh build of this tree.
# The build is reproducible (same tree at the same path, same bytes), so an unchanged
# source gives a byte-identical binary and nothing is replaced.
build() {
	if [ -n "$BINARY_SRC" ]; then
		CANDIDATE="$BINARY_SRC"
		return 0
	fi
	if [ ! -f "$SRC_DIR/package.json" ] || [ ! -d "$SRC_DIR/src" ]; then
		die "no source tree next to install.sh; pass --binary FILE"
	fi
	command -v bun >/dev/null || die "bun not found (run without --skip-deps to install it)"
	log "building in $SRC_DIR"
	if ! (cd "$SRC_DIR" && bun install --frozen-lockfile && bun run build) >"$WORK/build.log" 2>&1; then
		tail -n 30 "$WORK/build.log" >&2
		die "the build failed"
	fi
	CANDIDATE="$SRC_DIR/dist/$SERVICE"
}

# --- GeoIP default databases ---

# install_geoip_file SRC NAME: installs SRC as $DATA_DIR/geoip/NAME when NAME is missing or
# still the default we installed last time (its checksum is in geoip/DEFAULTS). A database that
# `pistonprotection geoip update` or the operator put there is never replaced.
install_geoip_file() {
	local src="$1" name="$2" dir="$DATA_DIR/geoip" want have recorded
	want="$(sha256sum "$src" | cut -d' ' -f1)"
	recorded="$(sed -n "s/^$name //p" "$dir/DEFAULTS" 2>/dev/null || true)"
	if [ -f "$dir/$name" ]; then
		have="$(sha256sum "$dir/$name" | cut -d' ' -f1)"
		[ "$have" != "$want" ] || return 0
		if [ "$have" != "$recorded" ]; then
			note "keeping $dir/$name (not the default database)"
			return 0
		fi
	fi
	install -D -m 0640 "$src" "$dir/$name.new"
	mv -f "$dir/$name.new" "$dir/$name"
	{
		grep -v "^$name " "$dir/DEFAULTS" 2>/dev/null || true
		printf '%s %s\n' "$name" "$want"
	} >"$dir/DEFAULTS.new"
	mv -f "$dir/DEFAULTS.new" "$dir/DEFAULTS"
	changed "installed the default GeoIP database $dir/$name"
}

# The defaults come from npm packages the build installed (no account, no download at run
# time): the CC0 country database and the RouteViews/DB-IP ASN ranges (geoip/README.md).
install_geoip() {
	local pkgs="$SRC_DIR/node_modules/@ip-location-db"
	if [ ! -d "$pkgs" ]; then
		note "no GeoIP packages next to install.sh; country and ASN rules need a database (geoip/README.md)"
		return 0
	fi
	install -d -m 0750 "$DATA_DIR/geoip"
	install_geoip_file "$pkgs/geo-whois-asn-country-mmdb/geo-whois-asn-country.mmdb" country.mmdb
	cat "$pkgs/asn/asn-ipv4.csv" "$pkgs/asn/asn-ipv6.csv" >"$WORK/asn.csv"
	install_geoip_file "$WORK/asn.csv" asn.csv
}

# --- Install ---

# The admin account is created on the first install only; 'admin create' exits 3 when an
# owner exists, which is how later runs know.
ensure_admin() {
	local out status=0
	out="$(run_pp "$BIN" admin create --email "$ADMIN_EMAIL" --config "$CONF" 2>&1)" || status=$?
	case "$status" in
	0)
		changed "created the admin account"
		ADMIN_CREDENTIALS="$out"
		;;
	3) ;;
	*)
		printf '%s\n' "$out" >&2
		die "could not create the admin account (exit $status)"
		;;
	esac
}

# Byte comparison decides every "changed?": a rebuild of the same tree gives the same bytes.
same_file() {
	[ -f "$2" ] && cmp -s "$1" "$2"
}

# replace_file MODE SRC DEST: writes beside, then renames, so a running daemon keeps its
# (old) file and no reader sees half a file.
replace_file() {
	install -D -m "$1" "$2" "$3.new"
	mv -f "$3.new" "$3"
}

do_install() {
	local candidate old_version="" new_version restart_reason=""
	CONFIG_CHANGED=0
	ADMIN_CREDENTIALS=""
	DAEMON_PID=""
	HEALTH_URL=""

	if [ "${#INTERFACES[@]}" -gt 0 ]; then
		confirm "Attach the XDP filter to ${INTERFACES[*]}? All traffic on them will be filtered." ||
			die "aborted"
	fi
	install_deps
	build
	candidate="$CANDIDATE"
	new_version="$(run_pp "$candidate" version)" || die "$candidate does not run"

	mount_bpffs
	install -d -m 0750 "$DATA_DIR"
	install_geoip
	ensure_config "$candidate"

	local binary_changed=0 unit_changed=0
	if ! same_file "$candidate" "$BIN"; then
		binary_changed=1
		[ ! -x "$BIN" ] || old_version="$(run_pp "$BIN" version 2>/dev/null || echo "an unknown version")"
	fi
	same_file "$SRC_DIR/systemd/$SERVICE.service" "$UNIT" || unit_changed=1

	local was_running=0
	if daemon_running; then
		was_running=1
		[ "$binary_changed" -eq 0 ] || restart_reason="the binary changed"
		[ "$CONFIG_CHANGED" -eq 0 ] || restart_reason="${restart_reason:+$restart_reason and }the config changed"
		[ "$unit_changed" -eq 0 ] || [ "$USE_SYSTEMD" -eq 0 ] ||
			restart_reason="${restart_reason:+$restart_reason and }the unit changed"
	fi
	# Stop before replacing, so the old process never runs against a database the new
	# version migrates (the new daemon migrates at start).
	if [ -n "$restart_reason" ] && [ "$NO_START" -eq 0 ]; then
		log "stopping the daemon: $restart_reason"
		stop_daemon
		was_running=0
	fi

	if [ "$binary_changed" -eq 1 ]; then
		replace_file 0755 "$candidate" "$BIN"
		if [ -n "$old_version" ]; then
			changed "upgraded $BIN: $old_version -> $new_version"
		else
			changed "installed $BIN ($new_version)"
		fi
	fi

	if [ "$unit_changed" -eq 1 ]; then
		replace_file 0644 "$SRC_DIR/systemd/$SERVICE.service" "$UNIT"
		changed "installed $UNIT"
		[ "$USE_SYSTEMD" -eq 0 ] || systemctl daemon-reload
	fi
	if [ "$USE_SYSTEMD" -eq 1 ] && ! systemctl is-enabled --quiet "$SERVICE" 2>/dev/null; then
		systemctl enable --quiet "$SERVICE"
		changed "enabled $SERVICE.service"
	fi

	# With a running daemon of another version (--no-start), leave its database alone.
	if [ "$was_running" -eq 0 ] || [ "$binary_changed" -eq 0 ]; then
		ensure_admin
	fi

	if [ "$NO_START" -eq 1 ]; then
		[ -z "$restart_reason" ] || warn "--no-start: the running daemon keeps the old state until restarted ($restart_reason)"
	elif [ "$was_running" -eq 0 ]; then
		start_daemon
		changed "started the daemon (pid $DAEMON_PID)"
	fi
	if [ -z "$DAEMON_PID" ] && daemon_running; then
		if [ "$USE_SYSTEMD" -eq 1 ]; then
			DAEMON_PID="$(systemctl show -p MainPID --value "$SERVICE")"
		else
			DAEMON_PID="$(background_pid)"
		fi
	fi
	summary "$new_version"
}

summary() {
	local version="$1" interfaces
	echo
	if [ "${#CHANGES[@]}" -eq 0 ]; then
		log "nothing changed: $version is installed and up to date"
	else
		log "done: ${#CHANGES[@]} change(s)"
	fi
	if [ -n "$ADMIN_CREDENTIALS" ]; then
		echo
		log "admin account (the password is shown only this once; store it now):"
		while IFS= read -r line; do
			note "$line"
		done <<<"$ADMIN_CREDENTIALS"
	fi
	echo
	note "binary:  $BIN"
	note "config:  $CONF"
	note "data:    $DATA_DIR"
	if [ "$NO_START" -eq 1 ] && ! daemon_running; then
		note "daemon:  not started (--no-start)"
	elif [ "$USE_SYSTEMD" -eq 1 ]; then
		note "daemon:  systemd unit $SERVICE.service, pid ${DAEMON_PID:-?} (journalctl -u $SERVICE)"
	else
		note "daemon:  running in the background, pid ${DAEMON_PID:-?} (pid file $PID_FILE, log $LOG_FILE)"
		if [ -n "$ROOT" ]; then
			note "         (staging root $ROOT: systemd is not used)"
		else
			note "         (systemd does not run this host, so no unit was started; rerun install.sh after a reboot)"
		fi
	fi
	if [ -n "$HEALTH_URL" ]; then
		note "health:  $HEALTH_URL"
	elif daemon_running; then
		local address
		address="$(health_address)"
		if curl -fsS --max-time 2 -o /dev/null "http://$address/healthz" 2>/dev/null; then
			note "health:  http://$address/healthz"
		else
			warn "the daemon runs but does not answer http://$address/healthz"
		fi
	fi

	interfaces="$(toml_get interfaces "$CONF")"
	echo
	if [ "$interfaces" = "[]" ]; then
		log "no interface is protected yet: nothing is attached."
		note "Choosing the interfaces is your decision: XDP on the host's main interface filters"
		note "all of its traffic (admin_networks keep your SSH and UI reachable). Either:"
		note "  - rerun: ./install.sh${ROOT:+ --root $ROOT} --interface IFACE [--interface IFACE2]   (restarts the daemon), or"
		note "  - edit dataplane.interfaces in $CONF, then restart the daemon"
		if [ "$USE_SYSTEMD" -eq 1 ]; then
			note "    (systemctl restart $SERVICE)."
		else
			note "    (kill \$(cat $PID_FILE); ./install.sh${ROOT:+ --root $ROOT})."
		fi
		note "Interfaces on this host: $(ip -o link show 2>/dev/null | awk -F': ' '$2 != "lo" {sub(/@.*/, "", $2); printf "%s%s", sep, $2; sep = " "}')"
	else
		log "protected interfaces: $interfaces"
	fi
}

# --- Uninstall ---

do_uninstall() {
	if [ "$PURGE" -eq 1 ]; then
		confirm "Remove $CONF_DIR, $DATA_DIR and $LOG_FILE (the database and its accounts) too?" ||
			die "aborted"
	fi
	if [ "$USE_SYSTEMD" -eq 1 ] && [ -f "$UNIT" ]; then
		if systemctl is-active --quiet "$SERVICE" || systemctl is-enabled --quiet "$SERVICE" 2>/dev/null; then
			systemctl disable --now --quiet "$SERVICE"
			changed "stopped and disabled $SERVICE.service"
		fi
	fi
	if background_pid >/dev/null; then
		stop_background
		changed "stopped the daemon"
	fi
	rm -f "$PID_FILE"

	# The data plane is fail-static: the program stays attached after the daemon stops,
	# so detach it and remove the pins explicitly.
	if [ -x "$BIN" ] && [ -f "$CONF" ] && run_pp "$BIN" dataplane detach --help >/dev/null 2>&1; then
		run_pp "$BIN" dataplane detach --config "$CONF" || die "'$SERVICE dataplane detach' failed"
		changed "detached the XDP program and removed its pins"
	elif [ -f "$CONF" ]; then
		local interfaces pin_path
		interfaces="$(toml_get interfaces "$CONF")"
		pin_path="$(toml_get pin_path "$CONF" | tr -d '"')"
		if [ -x "$BIN" ]; then
			warn "the installed $SERVICE has no 'dataplane detach' command: nothing was detached"
			[ "$interfaces" = "[]" ] ||
				warn "check $interfaces with 'ip -d link show dev IFACE'; detach with 'ip link set dev IFACE xdp off'"
		fi
		[ ! -e "$pin_path" ] || warn "pins remain in $pin_path; remove them with 'rm -r $pin_path'"
	fi

	if [ -e "$BIN" ]; then
		rm -f "$BIN"
		changed "removed $BIN"
	fi
	if [ -e "$UNIT" ]; then
		rm -f "$UNIT"
		[ "$USE_SYSTEMD" -eq 0 ] || systemctl daemon-reload
		changed "removed $UNIT"
	fi
	if [ "$PURGE" -eq 1 ]; then
		local path
		for path in "$CONF_DIR" "$DATA_DIR" "$LOG_FILE"; do
			if [ -e "$path" ]; then
				rm -rf "$path"
				changed "removed $path"
			fi
		done
	elif [ -e "$CONF" ] || [ -e "$DATA_DIR" ]; then
		log "kept $CONF_DIR and $DATA_DIR (remove them with --uninstall --purge)"
	fi
	if [ "${#CHANGES[@]}" -eq 0 ]; then
		log "nothing to uninstall"
	else
		log "uninstalled"
	fi
}

if [ "$UNINSTALL" -eq 1 ]; then
	do_uninstall
else
	do_install
fi
