//go:build !unix

package oauth

// processCPUTime is unknown here.
func processCPUTime() (int64, bool) { return 0, false }
