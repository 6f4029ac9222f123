# Shared set-up for scripts/serve.sh and scripts/test.sh (sourced, not run).
# Installs, on a fresh Debian machine with Python 3.11, what the project needs:
# Debian packages on demand and one virtualenv at .venv with the extras asked for.
# Re-running is cheap: the venv is only re-synced when pyproject.toml or the extras change.

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=0
ensure_debian_packages() {
  # ensure_debian_packages CMD:PACKAGE ...  installs PACKAGE when CMD is missing
  local missing=()
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "==> installing Debian packages: ${missing[*]}"
  if [ $apt_updated = 0 ]; then as_root apt-get -o DPkg::Lock::Timeout=600 update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}" >/dev/null
}

pick_python() {
  for py in python3.11 python3; do
    if command -v "$py" >/dev/null 2>&1 &&
       "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
      echo "$py"; return 0
    fi
  done
  echo "Python >= 3.11 is required (Debian: apt-get install python3)" >&2
  return 1
}

ensure_venv() {
  # ensure_venv EXTRAS   e.g. ensure_venv local,dev
  local extras=$1 py stamp want
  py=$(pick_python)
  if [ ! -x .venv/bin/python ]; then
    "$py" -m venv .venv 2>/dev/null || {
      ensure_debian_packages "false:python3-venv"; rm -rf .venv; "$py" -m venv .venv; }
  fi
  stamp=.venv/.o3-installed
  want="$(sha256sum pyproject.toml | cut -c1-16) $extras"
  if [ -f "$stamp" ] && grep -qxF "$want" "$stamp"; then return 0; fi
  echo "==> installing Python packages into .venv (extras: $extras)"
  .venv/bin/pip install -q --upgrade pip
  # torch is pinned to the CPU build (2.13.0); installing it first keeps other
  # packages from pulling a CUDA build.
  case ",$extras," in *,local,*|*,train,*) .venv/bin/pip install -q "torch==2.13.0";; esac
  .venv/bin/pip install -q -e ".[$extras]"
  echo "$want" > "$stamp"
}
