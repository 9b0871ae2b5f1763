//go:build tools

// Package tools pins the etcd server main package built by
// ../build-binaries.sh so that `go mod tidy` keeps it in go.mod/go.sum.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
)
