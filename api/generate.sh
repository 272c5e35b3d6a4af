#!/usr/bin/env bash
# Regenerates the Go code of api/nexus/v1/*.proto (committed). Pinned:
# protoc from Debian's protobuf-compiler (3.21.12), protoc-gen-go and
# protoc-gen-go-grpc below. `.ci/run` runs this into a temporary copy and
# fails when the committed code differs (the proto was changed without it).
set -euo pipefail
cd "$(dirname "$0")/.."
PROTOC_GEN_GO=v1.36.12
PROTOC_GEN_GO_GRPC=v1.5.1
GOBIN="$(go env GOPATH)/bin"
if ! "$GOBIN/protoc-gen-go" --version 2>/dev/null | grep -q "$PROTOC_GEN_GO"; then
  go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO"
fi
if ! "$GOBIN/protoc-gen-go-grpc" --version 2>/dev/null | grep -q "${PROTOC_GEN_GO_GRPC#v}"; then
  go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC"
fi
out="${1:-.}"
protoc -I api -I /usr/include \
  --plugin=protoc-gen-go="$GOBIN/protoc-gen-go" --plugin=protoc-gen-go-grpc="$GOBIN/protoc-gen-go-grpc" \
  --go_out="$out" --go_opt=module=github.com/keystone/nexus \
  --go-grpc_out="$out" --go-grpc_opt=module=github.com/keystone/nexus \
  api/nexus/v1/*.proto
