//go:build tools

// Package tools pins the Go modules whose binaries make up the kafka-tls
// Pulumi toolchain. build.sh builds them; nothing imports this package.
package tools

import (
	_ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
)
