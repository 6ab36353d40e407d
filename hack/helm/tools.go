//go:build tools

// Package tools pins the helm binary that the chart tests (test/chart) run.
// Kept out of the main module so helm's dependencies do not leak into the
// operator's build.
package tools

import (
	_ "helm.sh/helm/v4/cmd/helm"
)
