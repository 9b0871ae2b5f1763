#!/usr/bin/env bash
# Builds the binaries of the test cluster into e2e/cluster/.bin/:
#   etcd            from ./etcd/go.mod       (go.etcd.io/etcd/server/v3)
#   kube-apiserver  from ./apiserver/go.mod  (k8s.io/kubernetes/cmd/kube-apiserver)
#   kubectl         from ./apiserver/go.mod  (k8s.io/kubernetes/cmd/kubectl)
# Everything comes from the Go module proxy; versions are read from the
# go.mod files, which are the single source of truth.
#
# A binary that already exists and reports the expected version is kept;
# a missing or mismatched one is rebuilt. Set FORCE=1 to rebuild everything.
set -Eeuo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BIN="$HERE/.bin"

say() { printf '[test-cluster build] %s\n' "$*"; }
die() {
  printf '\n[test-cluster build] ERROR: %s\n\n' "$*" >&2
  exit 1
}
trap 'rc=$?; printf "\n[test-cluster build] FAILED (exit %s) at line %s: %s\n\n" "$rc" "$LINENO" "$BASH_COMMAND" >&2' ERR

if ! command -v go >/dev/null 2>&1; then
  if [[ -x /usr/local/go/bin/go ]]; then
    PATH="/usr/local/go/bin:$PATH"
  else
    die "the Go toolchain ('go') is not on PATH; it is needed to build etcd and kube-apiserver"
  fi
fi

# required version of module $2 in go.mod $1
mod_version() {
  awk -v m="$2" '($1 == m) { print $2; exit } ($1 == "require" && $2 == m) { print $3; exit }' "$1"
}

K8S_VERSION="$(mod_version "$HERE/apiserver/go.mod" k8s.io/kubernetes)"
ETCD_VERSION="$(mod_version "$HERE/etcd/go.mod" go.etcd.io/etcd/server/v3)"
[[ "$K8S_VERSION" =~ ^v([0-9]+)\.([0-9]+)\.[0-9]+$ ]] || die "cannot read the k8s.io/kubernetes version from apiserver/go.mod (got '$K8S_VERSION')"
K8S_MAJOR="${BASH_REMATCH[1]}"
K8S_MINOR="${BASH_REMATCH[2]}"
[[ "$ETCD_VERSION" =~ ^v3\.[0-9]+\.[0-9]+$ ]] || die "cannot read the go.etcd.io/etcd/server/v3 version from etcd/go.mod (got '$ETCD_VERSION')"

export CGO_ENABLED=0
export GOWORK=off
export GOFLAGS="${GOFLAGS:-} -mod=readonly"

# Version stamping as Kubernetes' own build does (hack/lib/version.sh). A build
# from the module proxy has no git checkout: the commit is unknown (zeros) and
# the build date is the release tag's time as recorded by the module proxy, so
# the binaries are reproducible.
k8s_ldflags() {
  local date commit="0000000000000000000000000000000000000000" flags="-s -w" pkg
  date="$(cd "$HERE/apiserver" && go list -m -f '{{if .Time}}{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}{{end}}' k8s.io/kubernetes)"
  [[ -n "$date" ]] || date="1970-01-01T00:00:00Z"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $pkg.gitVersion=$K8S_VERSION"
    flags+=" -X $pkg.gitMajor=$K8S_MAJOR"
    flags+=" -X $pkg.gitMinor=$K8S_MINOR"
    flags+=" -X $pkg.gitCommit=$commit"
    flags+=" -X $pkg.gitTreeState=clean"
    flags+=" -X $pkg.buildDate=$date"
  done
  printf '%s' "$flags"
}

# has_version NAME: does .bin/NAME exist and report the expected version?
has_version() {
  local exe="$BIN/$1" out
  [[ -x "$exe" ]] || return 1
  case "$1" in
    etcd) out="$("$exe" --version 2>/dev/null)" || return 1
          grep -qx "etcd Version: ${ETCD_VERSION#v}" <<<"$out" ;;
    kube-apiserver) out="$("$exe" --version 2>/dev/null)" || return 1
          [[ "$out" == "Kubernetes $K8S_VERSION" ]] ;;
    kubectl) out="$("$exe" version --client 2>/dev/null)" || return 1
          grep -qx "Client Version: $K8S_VERSION" <<<"$out" ;;
  esac
}

# build NAME MODULE_DIR PACKAGE LDFLAGS
build() {
  local name="$1" dir="$2" pkg="$3" ldflags="$4" tmp start
  if [[ "${FORCE:-0}" != 1 ]] && has_version "$name"; then
    say "$name: up to date ($BIN/$name)"
    return 0
  fi
  if [[ -e "$BIN/$name" ]]; then
    say "$name: present but not the expected version, rebuilding"
  fi
  say "$name: building $pkg (module $(basename "$dir")/go.mod) ..."
  start=$SECONDS
  tmp="$BIN/.$name.tmp.$$"
  if ! (cd "$dir" && go build -trimpath -ldflags "$ldflags" -o "$tmp" "$pkg"); then
    rm -f "$tmp"
    die "go build of $pkg failed (see the compiler output above)"
  fi
  mv -f "$tmp" "$BIN/$name"
  has_version "$name" || die "$name was built but does not report the expected version; '$BIN/$name --version' says: $("$BIN/$name" --version 2>&1 | head -3)"
  say "$name: built in $((SECONDS - start))s ($(du -h "$BIN/$name" | cut -f1))"
}

mkdir -p "$BIN"
say "go: $(go version)"
say "versions: etcd $ETCD_VERSION, kube-apiserver/kubectl $K8S_VERSION"

build etcd "$HERE/etcd" go.etcd.io/etcd/server/v3 "-s -w"
K8S_LDFLAGS="$(k8s_ldflags)"
build kube-apiserver "$HERE/apiserver" k8s.io/kubernetes/cmd/kube-apiserver "$K8S_LDFLAGS"
build kubectl "$HERE/apiserver" k8s.io/kubernetes/cmd/kubectl "$K8S_LDFLAGS"

say "done: $(cd "$BIN" && ls -1 etcd kube-apiserver kubectl | tr '\n' ' ')in $BIN"
