#!/usr/bin/env bash
# Copies into .gpu-stage/ (git-ignored) what the bare, offline GPU machine needs from this one:
# header-only toml++, nlohmann-json and CLI11, the GoogleTest sources, and the TinyStories sample
# token files (../shared does not travel with a device call). Carry .gpu-stage with the call.
set -euo pipefail
cd "$(dirname "$0")/../.."
data="${GPT_DATA_DIR:-$(pwd)/../shared/data}"
stage=.gpu-stage
rm -rf "$stage"
mkdir -p "$stage/include" "$stage/data/tinystories"
cp -r /usr/include/toml++ /usr/include/nlohmann /usr/include/CLI "$stage/include/"
cp -r /usr/src/googletest "$stage/googletest"
cp "$data"/tinystories/*.bin "$stage/data/tinystories/"
du -sh "$stage"
