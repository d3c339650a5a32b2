#!/usr/bin/env bash
# The sandbox twin: runs the package's test phase (nix/package.nix) and
# checks.lab (nix/lab-check.sh) the way the Nix builder runs them on Linux,
# with this machine's tools, so that CI meets what a `nix build` would:
#
#   - bubblewrap with its own network (loopback only), PID, IPC and UTS
#     namespaces, as uid 1000 / gid 100 without capabilities (nixbld's ids);
#   - no /sys at all (Nix mounts none for a normal build user); /proc, a
#     minimal /dev, /usr and /etc read-only; /build a fresh writable
#     directory (TMPDIR), HOME=/homeless-shelter, no /tmp;
#   - on PATH only stdenv's tools (coreutils, findutils, diffutils, sed,
#     grep, awk, tar, gzip, bzip2, xz, make, bash, patch, file, gcc and
#     binutils), the Rust toolchain and the programs of the
#     nativeCheckInputs in nix/test-phase.nix, each from a directory of its
#     own: /usr/bin is an empty tmpfs (but for sh), so a test that runs
#     /usr/bin/promtool fails here as it fails in Nix;
#   - cargoCheckHook's command: `cargo test --profile release --frozen
#     -j N -- --test-threads=N` with the checkFlags of nix/test-phase.nix.
#     (nixpkgs' buildRustPackage tests with checkType = buildType =
#     "release".) Not mirrored: `--target <triple>`, which only moves the
#     artifacts to target/<triple>/ and would build everything a second time,
#     and SOURCE_DATE_EPOCH, which C build scripts (libsqlite3-sys) track:
#     setting it would rebuild them between the twin and the cargo runs
#     outside it.
#
# The repository stays at its path (read-write, like Nix's build
# directory), so target/ is shared with the other cargo commands, and so
# are the Rust toolchain and cargo's registry (read-only) at theirs.
#
# Usage: scripts/sandbox-twin.sh [test|lab]... (default: test lab)
#        scripts/sandbox-twin.sh run CMD...   (a command in the twin)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd -P)

command -v bwrap >/dev/null || {
  echo "error: bwrap not found; install Debian's bubblewrap package (scripts/test.sh does)" >&2
  exit 1
}
command -v nix >/dev/null || {
  echo "error: nix not found (it reads nix/test-phase.nix); install Debian's nix-bin package" >&2
  exit 1
}

# nix/test-phase.nix, as lines.
phase() {
  nix --extra-experimental-features nix-command eval --raw --file nix/test-phase.nix "$1" --apply "$2" 2>/dev/null
}
mapfile -t check_flags < <(phase checkFlags 'builtins.concatStringsSep "\n"')
# shellcheck disable=SC2016 # the ${…} are Nix's
mapfile -t check_inputs < <(phase nativeCheckInputs \
  'x: builtins.concatStringsSep "\n" (builtins.concatLists (builtins.attrValues (builtins.mapAttrs (a: map (p: "${a} ${p}")) x)))')
[ ${#check_inputs[@]} -gt 0 ] || {
  echo "error: cannot read nix/test-phase.nix" >&2
  exit 1
}

sysroot=$(rustc --print sysroot)
cargo_home=${CARGO_HOME:-$HOME/.cargo}
cores=$(nproc)

# stdenv's tools: every program of these Debian packages, plus the
# alternatives Debian names apart (cc, awk, sh), as symlinks into a view of the
# host's /usr/bin that is not on PATH.
stdenv_packages=(coreutils findutils diffutils sed grep gawk mawk tar gzip bzip2 xz-utils
  make bash patch file binutils gcc gcc-12 cpp cpp-12)
farm=$(mktemp -d -t sandbox-twin.XXXXXX)
trap 'rm -rf "$farm"' EXIT
mkdir -p "$farm/stdenv" "$farm/build"
# gcc finds cc1 and its crt files beside its own directory (../libexec,
# ../lib), so the view has those too.
host_bin=/.twin/host/bin
link() { # link DIR NAME HOSTPATH: DIR/NAME -> the host file, as seen in the twin
  local real
  real=$(readlink -f "$3")
  case $real in
  /usr/bin/*) ln -sf "$host_bin/${real#/usr/bin/}" "$1/$2" ;;
  *) ln -sf "$real" "$1/$2" ;;
  esac
}
for pkg in "${stdenv_packages[@]}"; do
  dpkg-query -W "$pkg" >/dev/null 2>&1 || continue
  while read -r f; do
    [ -f "$f" ] && [ -x "$f" ] && link "$farm/stdenv" "$(basename "$f")" "$f"
  done < <(dpkg -L "$pkg" | grep -E '^(/usr)?/bin/[^/]+$')
done
for name in cc awk; do
  link "$farm/stdenv" "$name" "$(command -v "$name")"
done
# nixpkgs' bash has bin/sh too (Debian's sh is dash's).
link "$farm/stdenv" sh "$(command -v bash)"

# nativeCheckInputs: each program bound under a directory named after its
# nixpkgs attribute, as a store path would be.
args=()
path=""
# Debian's copy of a program: on PATH, under Debian's name, or in
# PostgreSQL's versioned directory.
host_program() {
  command -v "$1" && return
  [ "$1" = postgres_exporter ] && command -v prometheus-postgres-exporter && return
  [ "$1" = alertmanager ] && command -v prometheus-alertmanager && return
  find /usr/lib/postgresql/*/bin -name "$1" 2>/dev/null | sort -V | tail -n 1 | grep .
}
for line in "${check_inputs[@]}"; do
  read -r attr program <<<"$line"
  host=$(host_program "$program") || {
    echo "error: $program (nativeCheckInputs: $attr) not found; scripts/test.sh installs it" >&2
    exit 1
  }
  real=$(readlink -f "$host")
  case $real in
  # /usr/bin and /usr/sbin (HAProxy) are empty in the twin.
  /usr/bin/* | /usr/sbin/*)
    dir=/.twin/check-inputs/$attr/bin
    args+=(--ro-bind "$real" "$dir/$program")
    ;;
  # Elsewhere under /usr (PostgreSQL finds its share and lib directories
  # from its own path): that directory, visible read-only as all of /usr.
  *) dir=$(dirname "$real") ;;
  esac
  case ":$path:" in *":$dir:"*) ;; *) path=${path:+$path:}$dir ;; esac
done
path=$path:$sysroot/bin:/.twin/stdenv/bin

# The sandbox: a tmpfs root with only what a Nix build sees.
sandbox=(bwrap
  --unshare-user --uid 1000 --gid 100 --unshare-pid --unshare-net --unshare-ipc --unshare-uts
  --hostname localhost --die-with-parent --new-session
  --tmpfs / --proc /proc --dev /dev
  --ro-bind /usr /usr --ro-bind /etc /etc
  --tmpfs /usr/bin --tmpfs /usr/sbin --tmpfs /usr/local
  --ro-bind "$(readlink -f /bin/sh)" /usr/bin/sh
  --symlink usr/bin /bin --symlink usr/sbin /sbin --symlink usr/lib /lib
  --ro-bind /usr/bin "$host_bin" --symlink /usr/lib /.twin/host/lib
  --symlink /usr/libexec /.twin/host/libexec --ro-bind "$farm/stdenv" /.twin/stdenv/bin
  --ro-bind "$sysroot" "$sysroot"
  --tmpfs "$cargo_home" --ro-bind "$cargo_home/registry" "$cargo_home/registry"
  --bind "$root" "$root" --bind "$farm/build" /build --chdir "$root"
  --clearenv --setenv HOME /homeless-shelter --setenv PATH "$path"
  --setenv TMPDIR /build --setenv TEMPDIR /build --setenv TMP /build --setenv TEMP /build
  --setenv NIX_BUILD_TOP /build --setenv NIX_BUILD_CORES "$cores"
  --setenv CARGO_HOME "$cargo_home"
  "${args[@]}")
[ -e /lib64 ] && sandbox+=(--symlink usr/lib64 /lib64)

run_tests() {
  echo "==> sandbox twin: cargo test --profile release (checkFlags: ${check_flags[*]})"
  "${sandbox[@]}" cargo test -j "$cores" --profile release --frozen -- \
    --test-threads="$cores" "${check_flags[@]}"
}

# checks.lab: srelab and promtool on PATH, SRELAB_PROMETHEUS naming
# Prometheus (nix/checks.nix), the release binary as the package's.
run_lab() {
  echo "==> sandbox twin: checks.lab (nix/lab-check.sh)"
  local prom
  prom=$(for line in "${check_inputs[@]}"; do
    read -r attr program <<<"$line"
    if [ "$program" = prometheus ]; then echo "/.twin/check-inputs/$attr/bin/prometheus"; fi
  done)
  rm -rf "${farm:?}/build/"*
  "${sandbox[@]}" --ro-bind "$root/target/release/srelab" /.twin/srelab/bin/srelab \
    --setenv PATH "/.twin/srelab/bin:$path" --setenv SRELAB_PROMETHEUS "$prom" \
    bash nix/lab-check.sh
}

# `run CMD...`: a command in the twin, to see what a test sees.
if [ "${1:-}" = run ]; then
  shift
  exec "${sandbox[@]}" "$@"
fi

steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(test lab)
for step in "${steps[@]}"; do
  case $step in
  test) run_tests ;;
  lab)
    [ -x target/release/srelab ] || cargo build --release --locked --quiet
    run_lab
    ;;
  *)
    echo "usage: scripts/sandbox-twin.sh [test|lab]..." >&2
    exit 2
    ;;
  esac
done
