#!/usr/bin/env bash
# Copies into .gpu-stage/ (git-ignored) the small pieces the bare, offline GPU machine needs to
# build and test the project: header-only toml++, nlohmann-json and CLI11, and the GoogleTest
# sources. Run it here before a device call and carry .gpu-stage with the call.
set -euo pipefail
cd "$(dirname "$0")/../.."
stage=.gpu-stage
rm -rf "$stage"
mkdir -p "$stage/include"
cp -r /usr/include/toml++ /usr/include/nlohmann /usr/include/CLI "$stage/include/"
cp -r /usr/src/googletest "$stage/googletest"
du -sh "$stage"
