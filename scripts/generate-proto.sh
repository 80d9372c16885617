#!/usr/bin/env bash
# Regenerates Sources/AloftWire/Generated/aloft.pb.swift from proto/aloft/v1/aloft.proto.
# Needs `protoc` (Debian: protobuf-compiler) and protoc-gen-swift from apple/swift-protobuf 1.39.0:
#   swift build -c release --product protoc-gen-swift  (in a checkout of swift-protobuf), then
#   PROTOC_GEN_SWIFT=/path/to/protoc-gen-swift scripts/generate-proto.sh
set -euo pipefail
cd "$(dirname "$0")/.."
plugin=${PROTOC_GEN_SWIFT:-$(command -v protoc-gen-swift)}
protoc --plugin=protoc-gen-swift="$plugin" --proto_path=proto \
  --swift_opt=Visibility=Public --swift_opt=FileNaming=DropPath --swift_opt=UseAccessLevelOnImports=true \
  --swift_out=Sources/AloftWire/Generated aloft/v1/aloft.proto
