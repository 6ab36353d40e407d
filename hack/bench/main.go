// Command bench measures tokenator at scale against a real kube-apiserver and
// etcd: the time to issue N tokens compared with a bare client-go loop doing
// the least possible work, the API writes of an idle manager, a restart, the
// manager's memory with and without 10,000 unrelated Secrets, and how planned
// refreshes spread over time. See docs/performance.md.
//
//	go run ./hack/bench                 # N=1000, 10,000 Secrets, 2m steady
//	go run ./hack/bench -smoke          # N=100, 200 Secrets, 20s steady: a CI check
//	go run ./hack/bench -n 5000 -out results.json
//
// The manager is the real binary (go build ./cmd), run as a separate process
// whose kubeconfig points at a counting reverse proxy in front of the API
// server; the token endpoint is a local oauthtest server whose CA the manager
// trusts through SSL_CERT_FILE. Everything listens on 127.0.0.1. The benchmark
// runs in a child process; the parent kills whatever the child leaves behind.
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
)

// managerAgent is the User-Agent of every request of the manager (cmd/main.go
// sets it on the manager's rest.Config, which all its clients share).
const managerAgent = "tokenator"

// tokenLifetime is the expires_in of the endpoint's tokens: Lucca's 30 minutes.
const tokenLifetime = 30 * time.Minute

func main() {
	o := parseFlags()
	if o.n < 1 || o.namespaces < 1 || o.concurrency < 1 {
		fmt.Fprintln(os.Stderr, "bench: -n, -namespaces and -concurrency must be positive")
		os.Exit(2)
	}
	if os.Getenv(childEnv) == "" {
		os.Exit(supervise(o.timeout+2*time.Minute, o.keep))
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	os.Exit(runChild(o))
}

// runChild runs the benchmark, bounded by -timeout and ended early by a
// signal, reports it and returns the exit code.
func runChild(o options) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()

	res := newResults(o)
	runErr := explain(ctx, o, run(ctx, o, res))
	report(o, res, runErr)
	return exitCode(o, res, runErr)
}

// explain says why a run that failed was cut short, if it was.
func explain(ctx context.Context, o options, runErr error) error {
	switch {
	case runErr == nil:
	case ctx.Err() == context.DeadlineExceeded:
		runErr = fmt.Errorf("%w (the run is bounded by -timeout %s)", runErr, o.timeout)
	case ctx.Err() != nil:
		runErr = fmt.Errorf("interrupted: %w", runErr)
	}
	return runErr
}

// report derives the results, prints their table and writes their JSON.
func report(o options, res *results, runErr error) {
	if o.hostile > 0 {
		res.finishHostile(runErr)
	} else {
		res.finish(o, runErr)
	}
	res.printTable(os.Stdout)
	if err := res.writeJSON(o.out); err != nil {
		fmt.Fprintln(os.Stderr, "bench: writing the results:", err)
	}
}

// exitCode is 2 when the run failed, 1 when a check of -smoke or -hostile
// failed, else 0.
func exitCode(o options, res *results, runErr error) int {
	switch {
	case runErr != nil:
		fmt.Fprintln(os.Stderr, "bench: FAILED:", runErr)
		return 2
	case (o.smoke || o.hostile > 0) && len(res.Failures) > 0:
		fmt.Fprintln(os.Stderr, "bench: check FAILED:", strings.Join(res.Failures, "; "))
		return 1
	}
	return 0
}

var benchStart = time.Now()

// say prints a progress line to stderr.
func say(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%7.1fs] %s\n", time.Since(benchStart).Seconds(), fmt.Sprintf(format, args...))
}

// bench holds what the phases share.
type bench struct {
	o          options
	res        *results
	tmp        string
	c          client.Client // the bench's own client, straight to the API server, unthrottled
	admin      *rest.Config
	viaProxy   *rest.Config // through the counting proxy, with no credentials of its own
	proxy      *countingProxy
	idp        *oauthtest.Server
	binary     string
	kubeconfig string
	caFile     string
	mgr        *managerProc // the running manager, if any
	// upstreamRT is the proxy's transport to the API server, whose idle
	// connections are closed before the API server stops.
	upstreamRT http.RoundTripper
}

// settle waits until the manager has sent no request (watches aside) for quiet.
func (b *bench) settle(ctx context.Context, quiet, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Since(b.proxy.lastRequest(managerAgent)) < quiet {
		if time.Now().After(deadline) {
			b.res.Notes = append(b.res.Notes, fmt.Sprintf("the manager was still sending requests %s after the cold phase", limit))
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return nil
}

// phaseManager starts the manager of a phase as b.mgr; stop stops it
// gracefully and forgets it.
func (b *bench) phaseManager(name string, metrics bool) (m *managerProc, stop func(), err error) {
	if m, err = startManager(b.managerOptions(name, metrics)); err != nil {
		return nil, nil, err
	}
	b.mgr = m
	return m, func() {
		m.stop(syscall.SIGTERM)
		b.mgr = nil
	}, nil
}

func (b *bench) managerOptions(name string, metrics bool) managerOptions {
	return managerOptions{
		binary:      b.binary,
		kubeconfig:  b.kubeconfig,
		caFile:      b.caFile,
		logPath:     filepath.Join(b.tmp, "manager-"+name+".log"),
		concurrency: b.o.concurrency,
		qps:         b.o.qps,
		burst:       b.o.burst,
		metrics:     metrics,
		profile:     b.o.profile != "",
		echoLogs:    b.o.verbose,
	}
}

func mib(kib int64) float64 { return round3(float64(kib) / 1024) }

// startProfiles profiles phase, when -profile is set, until the profiler's
// stop; manager is the manager's profiling address, "" when no manager runs.
func (b *bench) startProfiles(ctx context.Context, phase, manager string) (*profiler, error) {
	if b.o.profile == "" {
		return nil, nil
	}
	return startProfiles(ctx, b.o.profile, phase, manager, b.admin)
}
