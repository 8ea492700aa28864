#!/usr/bin/env bash
# Installs what `make plan` and `make test` need from the locks: quietly, one line per phase, the
# tools' own output kept in build/logs/ and shown only when a step fails (issue 15, item 6).
#
#   tools/env.sh [--label L] venv DIR LOCK...  create venv DIR if needed; install the hashed LOCKs into it
#   tools/env.sh [--label L] debian PKG...     install the Debian packages among PKG that are missing
#   tools/env.sh [--label L] lock [UV-ARGS]    refresh every lock from its .in file (`make lock`)
#
# The installer is uv (pinned, hash-checked, in tools/uv.txt), fetched once into build/tools/ with the
# pip of python3 (or of the venv); it also makes the venv, in a fraction of ensurepip's time. Without it
# (a platform with no uv wheel) ensurepip and pip do the same, only slower.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
LABEL="make"
LOG_DIR=build/logs
UV_LOCK=tools/uv.txt
UV_VERSION=$(sed -n 's/^uv==\([^ ]*\).*/\1/p' "$UV_LOCK")
UV_DIR=build/tools/uv-$UV_VERSION

# Progress goes to stderr: a target whose stdout is its result (`make -s adopt-targets`) stays clean when a
# venv is built on the way.
say() { printf '[%s] %s\n' "$LABEL" "$*" >&2; }
die() {
	printf '[%s] error: %s\n' "$LABEL" "$*" >&2
	exit 1
}

# try LOG CMD...: runs CMD with its output in build/logs/LOG; returns CMD's status.
try() {
	local log=$LOG_DIR/$1
	shift
	mkdir -p "$LOG_DIR"
	"$@" >"$log" 2>&1
}

# quiet LOG CMD...: like try, but a failure shows the end of the log and stops.
quiet() {
	if ! try "$@"; then
		tail -n 30 "$LOG_DIR/$1" >&2
		die "failed: ${*:2} (whole output: $LOG_DIR/$1)"
	fi
}

as_root() {
	if [ "$(id -u)" = 0 ]; then
		"$@"
	else
		sudo -n "$@"
	fi
}

can_apt() {
	command -v apt-get >/dev/null && { [ "$(id -u)" = 0 ] || sudo -n true 2>/dev/null; }
}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# Every PKG has an installable version in the package lists we have (none at all on a fresh image).
known() {
	local p
	for p in "$@"; do
		apt-cache policy "$p" 2>/dev/null | grep -q 'Candidate: [^(]' || return 1
	done
}

apt_install() {
	can_apt || die "needs the Debian packages $*: run as root (or with sudo), or: sudo apt-get install $*"
	local apt=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@")
	known "$@" || quiet apt-update.log as_root apt-get update -q
	# Lists older than the mirror's files fail the download: refresh them once and retry.
	if ! try apt-install.log as_root "${apt[@]}"; then
		quiet apt-update.log as_root apt-get update -q
		quiet apt-install.log as_root "${apt[@]}"
	fi
}

cmd_debian() {
	local p missing=()
	for p in "$@"; do
		installed "$p" || missing+=("$p")
	done
	if [ ${#missing[@]} = 0 ]; then
		return
	fi
	command -v dpkg-query >/dev/null || die "not a Debian system: install ${missing[*]} with your package manager"
	say "Debian: installing ${missing[*]}…"
	apt_install "${missing[@]}"
}

# The pinned uv, fetched with the pip of $1 (a Python that has pip) unless build/tools has it already.
ensure_uv() {
	if [ -x "$UV_DIR/bin/uv" ]; then
		echo "$UV_DIR/bin/uv"
		return
	fi
	"$1" -c 'import pip' 2>/dev/null || return 1
	say "fetching uv $UV_VERSION (the installer; hash-checked, $UV_LOCK)…"
	rm -rf "$UV_DIR"
	# --only-binary: uv's sdist would need a Rust toolchain; no wheel for this platform means pip below.
	if try uv-bootstrap.log "$1" -m pip install --disable-pip-version-check --no-warn-script-location \
		--require-hashes --only-binary :all: --target "$UV_DIR" -r "$UV_LOCK" &&
		"$UV_DIR/bin/uv" --version >/dev/null; then
		echo "$UV_DIR/bin/uv"
	else
		rm -rf "$UV_DIR"
		return 1
	fi
}

# "VERSION EXECUTABLE" of a Python.
python_info() { "$1" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3], sys.executable)'; }

# Debian's own Python (its venv needs the python3.X-venv package), as opposed to pyenv's, a venv's, ...
debian_python() { dpkg-query -S "$(readlink -f "$(command -v "$1")")" >/dev/null 2>&1; }

make_venv() {
	local dir=$1 info version executable deb uv
	info=$(python_info "$PYTHON") || die "$PYTHON not found: install Python 3.11"
	version=${info%% *} executable=${info#* }
	deb=python${version%.*}-venv
	# uv makes the venv and seeds pip into it (the Pulumi CLI lists the venv's packages with
	# `python -m pip list`: sdk/python/toolchain/pip.go) in a fraction of ensurepip's time.
	if uv=$(ensure_uv "$PYTHON"); then
		say "creating $dir (Python $version) with uv…"
		quiet venv.log "$uv" venv --quiet --clear --seed --python "$executable" "$dir"
	elif "$PYTHON" -c 'import ensurepip' 2>/dev/null; then
		say "creating $dir (Python $version)…"
		quiet venv.log "$PYTHON" -m venv --clear "$dir"
	# Debian ships ensurepip apart from python3, in python3.X-venv (and pip in python3-pip). Installing
	# it is the real fix: the Pulumi CLI makes its venv with `python -m venv` too (pip.go).
	elif debian_python "$PYTHON" && can_apt; then
		say "$PYTHON has no ensurepip: Debian: installing $deb…"
		apt_install "$deb"
		say "creating $dir (Python $version)…"
		quiet venv.log "$PYTHON" -m venv --clear "$dir"
	elif uv=$(command -v uv); then
		say "$PYTHON has no ensurepip (Debian: $deb): creating $dir with $uv…"
		# The variable, not --clear: a uv older than the flag ignores it (and replaced venvs anyway).
		quiet venv.log env UV_VENV_CLEAR=1 "$uv" venv --quiet --seed --python "$executable" "$dir"
	else
		die "$PYTHON cannot make a venv: it has no ensurepip, and no uv could be had (pip's output:" \
			"$LOG_DIR/uv-bootstrap.log). On Debian/Ubuntu: sudo apt-get install $deb (or put uv on PATH)"
	fi
}

packages() { grep -hoE '^[A-Za-z0-9][A-Za-z0-9._-]*==' "$@" | sort -fu | wc -l; }

cmd_venv() {
	local dir=$1 uv args=()
	shift
	[ $# -gt 0 ] || die "venv: no lock file given"
	# One build of a venv at a time (two pytest workers may ask make for policy/venv at once).
	mkdir -p build/tools
	exec 9>"build/tools/${dir//\//_}.flock"
	flock 9
	if [ -x "$dir/bin/python" ] && "$dir/bin/python" -c 'import sys' 2>/dev/null; then
		:
	else
		make_venv "$dir"
	fi
	local lock
	for lock in "$@"; do
		args+=(-r "$lock")
	done
	# Hash-checking mode where the locks have hashes (every lock `make lock` writes): a
	# package of the closure that the lock does not pin then fails the install instead of floating.
	local hashed=--require-hashes
	for lock in "$@"; do
		grep -q -e '--hash=' "$lock" || hashed=
	done
	args+=(${hashed:+"$hashed"})
	local what
	what="$(packages "$@") locked packages ($*)"
	if uv=$(ensure_uv "$dir/bin/python" || command -v uv); then
		say "installing $what with uv…"
		quiet install.log "$uv" pip install --python "$dir/bin/python" "${args[@]}"
	else
		say "installing $what with pip (no uv for this platform: $LOG_DIR/uv-bootstrap.log)…"
		quiet install.log "$dir/bin/python" -m pip install --disable-pip-version-check "${args[@]}"
	fi
}

cmd_lock() {
	local uv
	uv=$(ensure_uv "$PYTHON") || die "no uv: $PYTHON has no pip to fetch it with ($LOG_DIR/uv-bootstrap.log)"
	# Locked for the Python the README asks for, on Linux, whatever machine runs `make lock`.
	local compile=("$uv" pip compile --quiet --generate-hashes --python-version 3.11 --python-platform linux "$@")
	export UV_CUSTOM_COMPILE_COMMAND="make lock"
	say "locking requirements.in → requirements.txt…"
	"${compile[@]}" requirements.in -o requirements.txt
	say "locking requirements-dev.in → requirements-dev.txt (at the runtime lock's versions)…"
	"${compile[@]}" requirements-dev.in -c requirements.txt -o requirements-dev.txt
	say "locking policy/requirements.in → policy/requirements.txt (the policy pack's own venv)…"
	"${compile[@]}" policy/requirements.in -o policy/requirements.txt
	say "locking tools/checkov/requirements.in → tools/checkov/requirements.txt (checkov's own venv)…"
	"${compile[@]}" tools/checkov/requirements.in -o tools/checkov/requirements.txt
	say "locking tools/uv.in → $UV_LOCK…"
	"${compile[@]}" tools/uv.in -o "$UV_LOCK"
}

if [ "${1:-}" = --label ]; then
	LABEL=$2
	shift 2
fi
command=${1:-}
shift || true
case $command in
venv) cmd_venv "$@" ;;
debian) cmd_debian "$@" ;;
lock) cmd_lock "$@" ;;
*) die "usage: tools/env.sh [--label L] venv DIR LOCK... | debian PKG... | lock [UV-ARGS]" ;;
esac
