#!/usr/bin/env bash
# Installs vLLM's own protocol code for the conformance tier (tests/conformance): the
# vllm wheel of the version docker-compose.yml pins (image vllm/vllm-openai:vX.Y.Z),
# WITHOUT its dependencies (CUDA torch, kernels), plus the light packages listed in
# tests/conformance/vllm-protocol.txt, into .cache/vllm-protocol/<version>/.
# Cheap when done: a stamp holds the version + the list's hash, so a change of the
# pinned version re-installs and re-runs the tier. The wheels are downloaded once into
# ${XDG_CACHE_HOME:-~/.cache}/open-o3-serve/wheels (vllm: ~327 MB; the registry here
# sends no cache headers, so pip's own HTTP cache keeps nothing) and installed from
# there (~900 MB unpacked, ~15-60 s depending on the disk).
# Never fails the caller: when the install is impossible (no network, no wheel) it
# writes the reason to .cache/vllm-protocol/<version>.failed, and the tier skips with it.
set -uo pipefail
cd "$(dirname "$0")/.."
version=$(sed -n 's#^[[:space:]]*image:[[:space:]]*vllm/vllm-openai:v\([0-9][0-9.]*\).*#\1#p' docker-compose.yml | head -1)
root=.cache/vllm-protocol
if [ -z "$version" ]; then
  mkdir -p "$root"; echo "no vllm/vllm-openai:vX.Y.Z image in docker-compose.yml" > "$root/unknown.failed"; exit 0
fi
target=$root/$version
want="$version $(sha256sum tests/conformance/vllm-protocol.txt | cut -c1-16)"
mkdir -p "$root"
exec 9> "$root/.lock"
flock 9  # pytest-xdist workers and test.sh may race here
if [ -f "$target/.installed" ] && grep -qxF "$want" "$target/.installed"; then exit 0; fi
echo "==> installing vLLM $version's protocol code into $target (no CUDA dependencies)"
rm -rf "$target" "$target.failed"
start=$(date +%s)
pip=.venv/bin/pip; [ -x "$pip" ] || pip="python3 -m pip"
wheels=${XDG_CACHE_HOME:-$HOME/.cache}/open-o3-serve/wheels
mkdir -p "$wheels"
install() {
  $pip install -q --no-index --find-links "$wheels" --no-deps --target "$target" \
    "vllm==$version" -r tests/conformance/vllm-protocol.txt
}
# the cached wheels first (works offline); download only what is missing
if install > "$root/install.log" 2>&1 ||
   { $pip download -q --no-deps -d "$wheels" "vllm==$version" \
       -r tests/conformance/vllm-protocol.txt >> "$root/install.log" 2>&1 &&
     install >> "$root/install.log" 2>&1; }; then
  echo "$want" > "$target/.installed"
  echo "==> vLLM $version protocol code: $(du -sh "$target" | cut -f1) in $(( $(date +%s) - start )) s"
else
  { echo "pip install --no-deps vllm==$version failed:"; tail -5 "$root/install.log"; } > "$target.failed"
  rm -rf "$target"
  echo "==> vLLM protocol code NOT installed (the conformance tier will skip): $(cat "$target.failed")"
fi
exit 0
