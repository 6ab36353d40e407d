//go:build benchprofile

package main

// Built only by `go run ./hack/bench -profile DIR` (go build -tags
// benchprofile): the manager serves net/http/pprof on the loopback address in
// TOKENATOR_PROFILE_ADDR and records blocking and contention, so that the
// benchmark can profile the manager during one phase. Release builds carry
// none of it.

import (
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
)

func init() {
	addr := os.Getenv("TOKENATOR_PROFILE_ADDR")
	if addr == "" {
		return
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		panic("TOKENATOR_PROFILE_ADDR must be a loopback host:port")
	}
	runtime.SetBlockProfileRate(int(1e6)) // one sample per millisecond blocked
	runtime.SetMutexProfileFraction(100)
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		panic(err)
	}
	go func() { _ = http.Serve(ln, mux) }()
}
