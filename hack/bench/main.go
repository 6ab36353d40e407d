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
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
	"github.com/tokenator-dev/tokenator/internal/operator"
)

// managerAgent is the User-Agent of every request of the manager (cmd/main.go
// sets it on the manager's rest.Config, which all its clients share).
const managerAgent = "tokenator"

// tokenLifetime is the expires_in of the endpoint's tokens: Lucca's 30 minutes.
const tokenLifetime = 30 * time.Minute

type options struct {
	root        string
	n           int
	secrets     int
	secretSize  int
	labelled    int
	labelledMiB int
	namespaces  int
	concurrency int
	qps         float64
	burst       int
	steady      time.Duration
	hold        time.Duration
	timeout     time.Duration
	smoke       bool
	out         string
	verbose     bool
	keep        bool
	profile     string
	refresh     int
	outage      time.Duration
	outageN     int
	shared      bool
	hostile     int
}

func parseFlags() options {
	var o options
	flag.StringVar(&o.root, "root", ".", "The repository root.")
	flag.IntVar(&o.n, "n", 1000, "Number of OAuthClients.")
	flag.IntVar(&o.secrets, "secrets", 10000, "Number of unrelated Secrets present for the second memory measurement.")
	flag.IntVar(&o.secretSize, "secret-size", 8192, "Bytes of data in each unrelated Secret.")
	flag.IntVar(&o.labelled, "labelled-secrets", 300, "Number of Secrets a tenant labels as managed by tokenator (no OAuthClient controls them), present for the third memory measurement.")
	flag.IntVar(&o.labelledMiB, "labelled-secret-mib", 1, "MiB of data in each labelled Secret.")
	flag.IntVar(&o.namespaces, "namespaces", 10, "Namespaces the OAuthClients (and the unrelated Secrets) are spread over.")
	flag.IntVar(&o.concurrency, "concurrency", 16, "The manager's --concurrent-reconciles, and the floor loop's workers.")
	flag.Float64Var(&o.qps, "qps", 0, "The manager's --kube-api-qps, and the floor loop's client QPS; 0 sets no client-side limit on either side (the manager's default).")
	flag.IntVar(&o.burst, "burst", 0, "The manager's --kube-api-burst, and the floor loop's client burst, with -qps.")
	flag.DurationVar(&o.steady, "steady", 2*time.Minute, "How long the idle manager's API writes are counted.")
	flag.DurationVar(&o.hold, "hold", 10*time.Second, "How long a restarted manager keeps running after it has reconciled everything.")
	flag.DurationVar(&o.timeout, "timeout", 0, "Bound of the whole run; 0 derives it from -n, -secrets and -steady.")
	flag.BoolVar(&o.smoke, "smoke", false, "A small CI check: N=100, 200 Secrets, 20s steady (unless set); exits 1 when a correctness figure is off.")
	flag.StringVar(&o.out, "out", "", "Write the JSON results to this file (default: stdout, after the table).")
	flag.BoolVar(&o.verbose, "v", false, "Copy the manager's logs to stderr.")
	flag.BoolVar(&o.keep, "keep", false, "Keep the work directory (manager logs, kubeconfig).")
	flag.StringVar(&o.profile, "profile", "", "Write CPU profiles of the manager and kube-apiserver during the floor and cold phases, the manager's block, mutex and goroutine profiles after the cold phase, and its heap after each restart, to this directory (the manager is built with -tags benchprofile).")
	flag.IntVar(&o.refresh, "refresh-clients", -1, "OAuthClients of the refresh phase, which counts the API requests of a routine refresh; -1 means min(N, 1000), 0 skips the phase.")
	flag.DurationVar(&o.outage, "outage", 0, "Run the outage phase: the token endpoint stops listening for this long while -outage-clients new OAuthClients need tokens (the issue's figure: 10m); 0 skips it.")
	flag.IntVar(&o.outageN, "outage-clients", 1000, "OAuthClients of the outage phase.")
	flag.BoolVar(&o.shared, "shared", true, "Run the shared-token phase: N more OAuthClients over 10 ClusterOAuthProviders with central credentials. At N=50,000 it outlasts the cold phase's first planned refreshes, which it then counts too.")
	flag.IntVar(&o.hostile, "hostile", 0, "Run the hostile phase alone, with this many objects of each kind a tenant may annotate (ServiceAccounts, forged-owner Secrets and ConfigMaps, OAuthClients; 240 KiB of annotations each): the manager's peak RSS may grow by less than 16 MiB as they arrive, 32 MiB over a restart; exits 1 when it grows more (see hack/bench/hostile.go). 0 runs the other phases.")
	flag.Parse()
	if o.refresh < 0 {
		o.refresh = min(o.n, 1000)
	}
	if o.smoke {
		set := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["n"] {
			o.n = 100
		}
		if !set["secrets"] {
			o.secrets = 200
		}
		if !set["labelled-secrets"] {
			o.labelled = 20
		}
		if !set["steady"] {
			o.steady = 20 * time.Second
		}
		if !set["refresh-clients"] {
			o.refresh = 20
		}
	}
	if o.timeout <= 0 {
		o.timeout = 10*time.Minute + o.steady + o.outage + retryMaxDelay + time.Duration(o.refresh+o.outageN)*50*time.Millisecond + time.Duration(o.n)*250*time.Millisecond + time.Duration(o.secrets)*10*time.Millisecond + time.Duration(o.labelled*o.labelledMiB)*200*time.Millisecond
	}
	return o
}

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

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()

	res := newResults(o)
	runErr := run(ctx, o, res)
	switch {
	case runErr == nil:
	case ctx.Err() == context.DeadlineExceeded:
		runErr = fmt.Errorf("%w (the run is bounded by -timeout %s)", runErr, o.timeout)
	case ctx.Err() != nil:
		runErr = fmt.Errorf("interrupted: %w", runErr)
	}
	if o.hostile > 0 {
		res.finishHostile(runErr)
	} else {
		res.finish(o, runErr)
	}
	res.printTable(os.Stdout)
	if err := res.writeJSON(o.out); err != nil {
		fmt.Fprintln(os.Stderr, "bench: writing the results:", err)
	}
	switch {
	case runErr != nil:
		fmt.Fprintln(os.Stderr, "bench: FAILED:", runErr)
		os.Exit(2)
	case (o.smoke || o.hostile > 0) && len(res.Failures) > 0:
		fmt.Fprintln(os.Stderr, "bench: check FAILED:", strings.Join(res.Failures, "; "))
		os.Exit(1)
	}
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
}

func run(ctx context.Context, o options, res *results) (err error) {
	root, err := filepath.Abs(o.root)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(root, "cmd", "main.go")); err != nil {
		return fmt.Errorf("-root %s is not the tokenator repository: %w", root, err)
	}
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		assets = filepath.Join(root, "bin", "k8s")
	}
	if _, err := os.Stat(filepath.Join(assets, "kube-apiserver")); err != nil {
		return fmt.Errorf("no kube-apiserver in %s (set KUBEBUILDER_ASSETS, or run `make control-plane`): %w", assets, err)
	}

	b := &bench{o: o, res: res, tmp: os.Getenv(childEnv)}

	say("building the manager (go build ./cmd)")
	b.binary = filepath.Join(b.tmp, "manager")
	buildArgs := []string{"build", "-o", b.binary}
	if o.profile != "" {
		if o.profile, err = filepath.Abs(o.profile); err != nil {
			return err
		}
		b.o.profile = o.profile
		buildArgs = append(buildArgs, "-tags", "benchprofile")
	}
	build := exec.CommandContext(ctx, "go", append(buildArgs, "./cmd")...)
	build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("building the manager: %w", err)
	}

	cold := newClientSet("bench", o.n, o.namespaces)
	floor := newClientSet("floor", o.n, o.namespaces)
	refresh := newClientSet("refresh", o.refresh, o.namespaces)
	outage := newClientSet("outage", o.outageN, o.namespaces)
	clients := cold.credentials()
	for _, cs := range []clientSet{floor, refresh, outage} {
		for id, secret := range cs.credentials() {
			clients[id] = secret
		}
	}
	b.idp = oauthtest.NewServer(oauthtest.Config{Kind: oauthtest.Lucca, Clients: clients, Lifetime: tokenLifetime})
	defer b.idp.Close()
	b.caFile = filepath.Join(b.tmp, "token-endpoint-ca.pem")
	if err := os.WriteFile(b.caFile, b.idp.CAPEM(), 0o600); err != nil {
		return err
	}

	say("starting kube-apiserver and etcd from %s", assets)
	env := &envtest.Environment{
		CRDDirectoryPaths:        []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing:    true,
		BinaryAssetsDirectory:    assets,
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}
	// Everything that talks to the API server stops before it: the bench's
	// informers, the manager, the proxy and its idle connections.
	ctx, stopClients := context.WithCancel(ctx)
	var upstreamRT http.RoundTripper
	cfg, err := env.Start()
	defer func() {
		stopClients()
		if b.mgr != nil {
			b.mgr.stop(syscall.SIGKILL)
		}
		if b.proxy != nil {
			b.proxy.Close()
		}
		utilnet.CloseIdleConnectionsFor(upstreamRT)
		start := time.Now()
		if serr := env.Stop(); serr != nil {
			err = errors.Join(err, fmt.Errorf("stopping the control plane: %w", serr))
		}
		say("control plane stopped in %.1fs", time.Since(start).Seconds())
	}()
	if err != nil {
		return fmt.Errorf("starting the control plane: %w", err)
	}
	b.admin = rest.CopyConfig(cfg)
	b.admin.QPS, b.admin.UserAgent = -1, "tokenator-bench"
	if b.c, err = client.New(b.admin, client.Options{Scheme: operator.NewScheme()}); err != nil {
		return err
	}

	// The manager's identity: a system:masters user whose client certificate
	// the proxy presents upstream.
	user, err := env.AddUser(envtest.User{Name: "tokenator-manager", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("adding the manager's user: %w", err)
	}
	upstreamCfg := user.Config()
	if upstreamRT, err = rest.TransportFor(upstreamCfg); err != nil {
		return err
	}
	upstream, err := url.Parse(upstreamCfg.Host)
	if err != nil {
		return err
	}
	if b.proxy, err = startProxy(upstream, upstreamRT); err != nil {
		return err
	}
	b.viaProxy = &rest.Config{Host: b.proxy.URL(), TLSClientConfig: rest.TLSClientConfig{CAData: b.proxy.caPEM}}
	if b.kubeconfig, err = writeKubeconfig(b.tmp, b.proxy); err != nil {
		return err
	}

	if o.hostile > 0 {
		res.Hostile, err = b.hostilePhase(ctx)
		return err
	}
	if err := b.floorPhase(ctx, floor); err != nil {
		return err
	}
	if err := b.coldPhase(ctx, cold); err != nil {
		return err
	}
	if err := b.steadyPhase(ctx); err != nil {
		return err
	}
	if refresh.n > 0 {
		if err := b.refreshPhase(ctx, refresh); err != nil {
			return err
		}
	}
	// A crash: no graceful shutdown.
	b.mgr.stop(syscall.SIGKILL)
	b.mgr = nil

	r, err := b.restartPhase(ctx, "restart")
	res.Restart = r
	if err != nil {
		return err
	}

	say("creating %d unrelated Secrets of %d bytes in %d other namespaces, the manager stopped", o.secrets, o.secretSize, o.namespaces)
	start := time.Now()
	noise := newClientSet("unrelated", 0, o.namespaces)
	if err := createNoiseSecrets(ctx, b.c, o.secrets, o.secretSize, noise.namespaces, 16); err != nil {
		return fmt.Errorf("creating the unrelated Secrets: %w", err)
	}
	res.SecretsCreateSeconds = round3(time.Since(start).Seconds())

	r, err = b.restartPhase(ctx, "restart-with-secrets")
	res.RestartWithSecrets = r
	if err != nil {
		return err
	}
	say("creating %d Secrets of %d MiB labelled %s=%s that no OAuthClient controls, the manager stopped",
		o.labelled, o.labelledMiB, tokenatorv1.LabelManagedBy, tokenatorv1.ManagedByValue)
	if err := createLabelledSecrets(ctx, b.c, o.labelled, o.labelledMiB<<20, noise.namespaces, 4); err != nil {
		return fmt.Errorf("creating the labelled Secrets: %w", err)
	}
	r, err = b.restartPhase(ctx, "restart-with-labelled-secrets")
	res.RestartWithLabelled = r
	if err != nil {
		return err
	}
	if o.shared {
		if res.Shared, err = b.sharedPhase(ctx, cold.clientID(0), cold.secretOf(0)); err != nil {
			return err
		}
	}
	if !res.earliestRefresh.IsZero() && time.Now().After(res.earliestRefresh) {
		res.Notes = append(res.Notes, fmt.Sprintf("the run outlasted the earliest planned refresh (%s): the restart figures may include due refreshes",
			res.earliestRefresh.UTC().Format(time.RFC3339)))
	}
	if o.outage > 0 {
		// Last: the cold and shared phases' clients are deleted first, so
		// that none of their refreshes falls in the outage.
		if err := b.outagePhase(ctx, outage, cold, sharedClients(o)); err != nil {
			return err
		}
	}
	return nil
}

// floorPhase: the same work as the cold phase, done by a bare client-go loop.
func (b *bench) floorPhase(ctx context.Context, floor clientSet) error {
	o := b.o
	say("floor: creating %d namespaces (no manager running)", o.namespaces)
	if err := createNamespaces(ctx, b.c, floor.namespaces); err != nil {
		return err
	}
	creds := make(map[string][2]string, o.n)
	for i := range o.n {
		creds[floor.namespace(i)+"/"+floor.name(i)] = [2]string{floor.clientID(i), floor.secretOf(i)}
	}

	say("floor: creating %d OAuthClients; for each, as it is created: token request + Secret create + status update, %d workers, QPS %g burst %d",
		o.n, o.concurrency, o.qps, o.burst)
	before, tokensBefore := b.proxy.snapshot(), b.idp.Requests()
	var prof *profiler
	if o.profile != "" {
		var err error
		if prof, err = startProfiles(ctx, o.profile, "floor", "", b.admin); err != nil {
			return err
		}
	}
	// The OAuthClients are created by the bench as in the cold phase, and
	// handed to the floor's workers as they are created: the same load on
	// the API server, in the same clock.
	created := make(chan *tokenatorv1.OAuthClient, o.n)
	floorStart := time.Now()
	createErr := make(chan error, 1)
	go func() {
		err := parallel(ctx, o.n, 16, func(ctx context.Context, i int) error {
			oc := floor.oauthClient(i, b.idp.URL())
			if err := b.c.Create(ctx, oc); err != nil {
				return err
			}
			created <- oc
			return nil
		})
		b.res.FloorCreateSeconds = round3(time.Since(floorStart).Seconds())
		close(created)
		createErr <- err
	}()
	err := runFloor(ctx, b.viaProxy, created, creds, b.idp.CAPEM(), b.idp.URL(), o.concurrency, o.qps, o.burst)
	d := time.Since(floorStart)
	if cerr := <-createErr; cerr != nil {
		return fmt.Errorf("floor: creating OAuthClients: %w", cerr)
	}
	if err != nil {
		return err
	}
	if prof != nil {
		if err := prof.stop(""); err != nil {
			return err
		}
	}
	b.res.FloorRates = b.proxy.rates(floorAgent, floorStart, time.Now())
	diff := b.proxy.snapshot().sub(before)
	b.res.FloorSeconds = round3(d.Seconds())
	b.res.FloorTokenRequests = b.idp.Requests() - tokensBefore
	b.res.FloorAPIRequests = diff.byVerbResource(floorAgent)
	if b.res.FloorTokenRequests > 0 {
		b.res.FloorRequestsPerToken = round3(float64(diff.requests(floorAgent)) / float64(b.res.FloorTokenRequests))
	}
	say("floor: %.2fs", d.Seconds())

	// The manager must never see the floor's objects.
	for _, ns := range floor.namespaces {
		if err := b.c.DeleteAllOf(ctx, &tokenatorv1.OAuthClient{}, client.InNamespace(ns)); err != nil {
			return fmt.Errorf("floor: deleting OAuthClients: %w", err)
		}
		if err := b.c.DeleteAllOf(ctx, &corev1.Secret{}, client.InNamespace(ns)); err != nil {
			return fmt.Errorf("floor: deleting Secrets: %w", err)
		}
	}
	return nil
}

// coldPhase: the manager runs, idle; N OAuthClients are created; time until all
// are Ready.
func (b *bench) coldPhase(ctx context.Context, cold clientSet) error {
	o, res := b.o, b.res
	say("cold: creating %d namespaces and %d credentials Secrets", o.namespaces, o.n)
	if err := createNamespaces(ctx, b.c, cold.namespaces); err != nil {
		return err
	}
	if err := parallel(ctx, o.n, 16, func(ctx context.Context, i int) error {
		return b.c.Create(ctx, cold.credentialsSecret(i))
	}); err != nil {
		return fmt.Errorf("cold: creating credentials Secrets: %w", err)
	}

	informers, err := cache.New(b.admin, cache.Options{
		Scheme:   operator.NewScheme(),
		ByObject: map[client.Object]cache.ByObject{&tokenatorv1.OAuthClient{}: {Label: phaseSelector(cold.phase)}},
	})
	if err != nil {
		return err
	}
	go func() { _ = informers.Start(ctx) }()
	tracker, err := trackReady(ctx, informers, o.n)
	if err != nil {
		return err
	}

	say("cold: starting the manager")
	if b.mgr, err = startManager(b.managerOptions("cold", false)); err != nil {
		return err
	}
	workersAt, err := b.mgr.waitWorkers(ctx, 2*time.Minute)
	if err != nil {
		return err
	}
	res.ManagerStartSeconds = round3(workersAt.Sub(b.mgr.started).Seconds())

	say("cold: creating %d OAuthClients", o.n)
	var prof *profiler
	if o.profile != "" {
		if prof, err = startProfiles(ctx, o.profile, "cold", b.mgr.profileAddr, b.admin); err != nil {
			return err
		}
	}
	before, tokensBefore := b.proxy.snapshot(), b.idp.Requests()
	t0 := time.Now()
	if err := parallel(ctx, o.n, 16, func(ctx context.Context, i int) error {
		return b.c.Create(ctx, cold.oauthClient(i, b.idp.URL()))
	}); err != nil {
		return fmt.Errorf("cold: creating OAuthClients: %w", err)
	}
	res.ColdCreateSeconds = round3(time.Since(t0).Seconds())
	allAt, err := tracker.wait(ctx, time.Minute+time.Duration(o.n)*150*time.Millisecond)
	if err != nil {
		res.TokenRequests = b.idp.Requests() - tokensBefore
		return fmt.Errorf("cold: %w", err)
	}
	res.ColdSeconds = round3(allAt.Sub(t0).Seconds())
	if prof != nil {
		if err := prof.stop(b.mgr.profileAddr); err != nil {
			return err
		}
	}
	res.ColdRates = b.proxy.rates(managerAgent, t0, allAt)
	q := tracker.quantiles(t0, 0.1, 0.5, 0.9, 1)
	res.ColdReadyAt = map[string]float64{"p10": q[0], "p50": q[1], "p90": q[2], "p100": q[3]}
	if res.FloorSeconds > 0 {
		res.ColdRatio = round3(res.ColdSeconds / res.FloorSeconds)
	}
	say("cold: all %d Ready after %.2fs (floor %.2fs)", o.n, res.ColdSeconds, res.FloorSeconds)

	// Events are sent asynchronously: wait until the manager has been quiet
	// for 3s, so that its trailing requests are not counted as steady ones.
	settled := time.Now()
	if err := b.settle(ctx, 3*time.Second, 2*time.Minute+time.Duration(o.n)*60*time.Millisecond); err != nil {
		return err
	}
	res.ColdSettleSeconds = round3(time.Since(settled).Seconds())
	diff := b.proxy.snapshot().sub(before)
	res.TokenRequests = b.idp.Requests() - tokensBefore
	res.ColdTokensLogged = int(b.mgr.logs.issued.Load())
	res.ColdAPIRequests = diff.byVerbResource(managerAgent)
	res.ColdWrites = diff.writes(managerAgent)
	res.ColdReads = diff.reads(managerAgent)
	if res.TokenRequests > 0 {
		res.RequestsPerNewToken = round3(float64(diff.requests(managerAgent)) / float64(res.TokenRequests))
	}

	var list tokenatorv1.OAuthClientList
	if err := b.c.List(ctx, &list, client.MatchingLabels{phaseLabel: cold.phase}); err != nil {
		return err
	}
	var refreshes []time.Time
	var firstIssued time.Time
	for i := range list.Items {
		st := list.Items[i].Status
		if st.RefreshAt == nil || st.LastRefreshTime == nil {
			continue
		}
		refreshes = append(refreshes, st.RefreshAt.Time)
		if res.earliestRefresh.IsZero() || st.RefreshAt.Time.Before(res.earliestRefresh) {
			res.earliestRefresh = st.RefreshAt.Time
		}
		if firstIssued.IsZero() || st.LastRefreshTime.Time.Before(firstIssued) {
			firstIssued = st.LastRefreshTime.Time
		}
	}
	share, peak, seconds := peakShare(refreshes)
	res.RefreshPeakShare = round3(share)
	res.RefreshPeak, res.RefreshDistinctSeconds, res.RefreshPlanned = peak, seconds, len(refreshes)
	if len(refreshes) > 0 {
		lo, hi := refreshes[0], refreshes[0]
		for _, t := range refreshes {
			if t.Before(lo) {
				lo = t
			}
			if t.After(hi) {
				hi = t
			}
		}
		res.RefreshSpanSeconds = hi.Sub(lo).Seconds()
		res.RefreshEarliestAfterIssueSeconds = lo.Sub(firstIssued).Seconds()
	}
	return nil
}

// steadyPhase counts the idle manager's API writes and token requests.
func (b *bench) steadyPhase(ctx context.Context) error {
	say("steady: counting the idle manager's API requests for %s", b.o.steady)
	before, tokensBefore := b.proxy.snapshot(), b.idp.Requests()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-b.mgr.done:
		return fmt.Errorf("steady: the manager exited: %v (see %s)", b.mgr.exitErr, b.mgr.logs.path())
	case <-time.After(b.o.steady):
	}
	diff := b.proxy.snapshot().sub(before)
	b.res.SteadyWrites = diff.writes(managerAgent)
	b.res.SteadyReads = diff.reads(managerAgent)
	b.res.SteadyTokenRequests = b.idp.Requests() - tokensBefore
	b.res.SteadyAPIRequests = diff.byVerbResource(managerAgent)
	mem, err := b.mgr.memory()
	if err != nil {
		return err
	}
	b.res.RSSMiBCold = mib(mem.HWM)
	say("steady: %d writes, %d token requests; manager peak RSS %.1f MiB", b.res.SteadyWrites, b.res.SteadyTokenRequests, b.res.RSSMiBCold)
	return nil
}

// restartPhase starts the manager on OAuthClients that all hold a valid token
// and measures the time until it has reconciled every one of them: from exec
// until its metrics show at least N reconciles, an empty workqueue and no
// active worker. It then keeps it running -hold more.
func (b *bench) restartPhase(ctx context.Context, name string) (*restartResult, error) {
	o := b.o
	say("%s: starting the manager", name)
	r := &restartResult{}
	before, tokensBefore := b.proxy.snapshot(), b.idp.Requests()
	m, err := startManager(b.managerOptions(name, true))
	if err != nil {
		return r, err
	}
	b.mgr = m
	defer func() {
		m.stop(syscall.SIGTERM)
		b.mgr = nil
	}()
	workersAt, err := m.waitWorkers(ctx, 2*time.Minute)
	if err != nil {
		return r, fmt.Errorf("%s: %w", name, err)
	}
	r.WorkersSeconds = round3(workersAt.Sub(m.started).Seconds())

	deadline := time.Now().Add(time.Minute + time.Duration(o.n)*50*time.Millisecond)
	var doneAt time.Time
	for doneAt.IsZero() {
		if time.Now().After(deadline) {
			return r, fmt.Errorf("%s: the manager had not reconciled all %d OAuthClients by %s", name, o.n, deadline.Format(time.TimeOnly))
		}
		s, err := m.scrape(ctx)
		if err == nil {
			total := s.sum("controller_runtime_reconcile_total", `controller="oauthclient"`)
			depth := s.sum("workqueue_depth", `name="oauthclient"`)
			active := s.sum("controller_runtime_active_workers", `controller="oauthclient"`)
			if total >= float64(o.n) && depth == 0 && active == 0 {
				doneAt = time.Now()
				break
			}
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-m.done:
			return r, fmt.Errorf("%s: the manager exited: %v (see %s)", name, m.exitErr, m.logs.path())
		case <-time.After(pollInterval(time.Since(m.started))):
		}
	}
	r.Seconds = round3(doneAt.Sub(m.started).Seconds())
	say("%s: all %d reconciled %.2fs after exec; holding %s", name, o.n, r.Seconds, o.hold)
	select {
	case <-ctx.Done():
		return r, ctx.Err()
	case <-time.After(o.hold):
	}
	if s, err := m.scrape(ctx); err == nil {
		r.Reconciles = int(s.sum("controller_runtime_reconcile_total", `controller="oauthclient"`))
		r.HeapInuseMiB = round3(s.sum("go_memstats_heap_inuse_bytes") / (1 << 20))
		r.GoSysMiB = round3(s.sum("go_memstats_sys_bytes") / (1 << 20))
	}
	if o.profile != "" {
		if err := saveHeap(ctx, o.profile, name, m.profileAddr); err != nil {
			return r, err
		}
	}
	mem, err := m.memory()
	if err != nil {
		return r, err
	}
	r.RSSMiB, r.RSSNowMiB = mib(mem.HWM), mib(mem.RSS)
	diff := b.proxy.snapshot().sub(before)
	r.TokenRequests = b.idp.Requests() - tokensBefore
	r.TokensLogged = int(m.logs.issued.Load())
	r.Writes = diff.writes(managerAgent)
	r.Reads = diff.reads(managerAgent)
	r.APIRequests = diff.byVerbResource(managerAgent)
	say("%s: %d token requests, %d writes, peak RSS %.1f MiB", name, r.TokenRequests, r.Writes, r.RSSMiB)
	return r, nil
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

// writeKubeconfig writes the manager's kubeconfig: the proxy, trusted through
// its CA, and no credentials (the proxy authenticates upstream).
func writeKubeconfig(dir string, p *countingProxy) (string, error) {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["bench"] = &clientcmdapi.Cluster{Server: p.URL(), CertificateAuthorityData: p.caPEM}
	kc.AuthInfos["manager"] = &clientcmdapi.AuthInfo{}
	kc.Contexts["bench"] = &clientcmdapi.Context{Cluster: "bench", AuthInfo: "manager"}
	kc.CurrentContext = "bench"
	path := filepath.Join(dir, "kubeconfig")
	return path, clientcmd.WriteToFile(*kc, path)
}

func mib(kib int64) float64 { return round3(float64(kib) / 1024) }

// pollInterval is the wait between two reads of the manager's metrics while
// waiting for a restart to end, elapsed after exec: a twentieth of elapsed,
// from 100 ms to 1 s, so that restart_seconds is known to 5 % or 100 ms. Each
// read builds every series of the manager, four per OAuthClient: read every
// 100 ms at N=50,000, that is two million series a second, 300 times what a
// Prometheus scraping every 30 s reads, and the peak RSS the restart phase
// reports grew with it.
func pollInterval(elapsed time.Duration) time.Duration {
	return min(time.Second, max(100*time.Millisecond, elapsed/20))
}
