#!/usr/bin/env bash
# Copies into .gpu-stage/ (git-ignored) what the bare, offline GPU machine needs from this one:
# header-only toml++, nlohmann-json and CLI11 and the GoogleTest sources (the sample data travels
# with the working tree, in data/sample). Carry .gpu-stage with the call.
set -euo pipefail
cd "$(dirname "$0")/../.."
stage=.gpu-stage
rm -rf "$stage"
mkdir -p "$stage/include"
cp -r /usr/include/toml++ /usr/include/nlohmann /usr/include/CLI "$stage/include/"
cp -r /usr/src/googletest "$stage/googletest"
du -sh "$stage"
