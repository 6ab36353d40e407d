package controllers_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
	"github.com/tokenator-dev/tokenator/internal/testutil"
	"github.com/tokenator-dev/tokenator/operator"
)

// The suite runs every test against one real kube-apiserver and etcd (built by
// hack/build-control-plane.sh), each test in its own namespace with its own
// manager restricted to that namespace, and its own local token endpoint.
var (
	restConfig *rest.Config
	k8s        client.Client

	// logs holds everything any manager logged, at debug level.
	logs testutil.SyncBuffer

	// secretsSeen collects every client secret and private key (its PEM
	// lines) used and every token endpoint started, so that the leak scan can
	// look for them, the tokens issued and the assertions sent in logs,
	// Events and status.
	secretsMu   sync.Mutex
	secretsSeen []string
	endpoints   []*oauthtest.Server
)

// The control plane is started on first use, by requireControlPlane: a run
// of tests that need none (the template unit tests, fuzz targets, benchmarks,
// `go test -run 'Render|Template'`) starts no kube-apiserver and needs no
// KUBEBUILDER_ASSETS. A test that needs the API server calls
// requireControlPlane (newEnv does), and fails when it cannot be started.
var controlPlane = &testutil.ControlPlane{
	CRDDir: filepath.Join("..", "config", "crd", "bases"),
	Scheme: operator.NewScheme(),
	Refuse: func() error {
		if fuzzing() {
			// Fuzz workers are killed when the fuzz time ends: a control
			// plane started by one would outlive it.
			return errors.New("no control plane while fuzzing: run the fuzz target alone (-run '^$')")
		}
		return nil
	},
}

func TestMain(m *testing.M) {
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.WriteTo(io.MultiWriter(&logs, testLogSink())), zap.Level(zapcore.Level(-10))))

	code := m.Run()
	if !controlPlane.Started() {
		os.Exit(code)
	}
	if code == 0 {
		if leaks := scanForLeaks(); len(leaks) > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: secrets leaked:\n%s\n", strings.Join(leaks, "\n"))
			code = 1
		}
	}
	for _, e := range endpoints {
		e.Close()
	}
	if err := controlPlane.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "stopping the test control plane: %v\n", err)
	}
	os.Exit(code)
}

// requireControlPlane starts the suite's kube-apiserver and etcd if no test
// has yet, and sets restConfig and k8s; it fails t when they cannot start.
func requireControlPlane(t testing.TB) {
	t.Helper()
	startOnce.Do(func() { restConfig, k8s, startErr = controlPlane.Start() })
	if startErr != nil {
		t.Fatal(startErr)
	}
}

// startOnce sets the suite's client (and configuration) once, from the
// control plane.
var (
	startOnce sync.Once
	startErr  error
)

// fuzzing reports whether this test binary runs a fuzz target or is a fuzz worker.
func fuzzing() bool {
	for _, name := range []string{"test.fuzz", "test.fuzzworker"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" && f.Value.String() != "false" {
			return true
		}
	}
	return false
}

// testLogSink shows the managers' logs with -v; they are always captured.
func testLogSink() io.Writer {
	for _, a := range os.Args {
		if a == "-test.v=true" || a == "-test.v" {
			return os.Stderr
		}
	}
	return io.Discard
}

// scanForLeaks looks for every client secret, every issued token and every
// client assertion (ServiceAccount tokens included) in what
// the managers logged, in every Event and in every OAuthClient's status.
func scanForLeaks() []string {
	secretsMu.Lock()
	needles := append([]string(nil), secretsSeen...)
	for _, e := range endpoints {
		needles = append(needles, e.Issued()...)
		// Every client assertion sent, whole and its signature alone.
		for _, a := range e.Assertions() {
			needles = append(needles, a, a[strings.LastIndexByte(a, '.')+1:])
		}
	}
	secretsMu.Unlock()

	ctx := context.Background()
	haystacks := map[string]string{"manager logs": logs.String()}
	var evs eventsv1.EventList
	if err := k8s.List(ctx, &evs); err == nil {
		for _, e := range evs.Items {
			haystacks["event "+e.Namespace+"/"+e.Name] = e.Note + " " + e.Reason
		}
	}
	var coreEvs corev1.EventList
	if err := k8s.List(ctx, &coreEvs); err == nil {
		for _, e := range coreEvs.Items {
			haystacks["event "+e.Namespace+"/"+e.Name] = e.Message + " " + e.Reason
		}
	}
	var ocs tokenatorv1.OAuthClientList
	if err := k8s.List(ctx, &ocs); err == nil {
		for _, oc := range ocs.Items {
			haystacks["status of "+oc.Namespace+"/"+oc.Name] = fmt.Sprintf("%+v", oc.Status)
		}
	}
	if families, err := ctrlmetrics.Registry.Gather(); err == nil {
		var b strings.Builder
		for _, f := range families {
			_, _ = expfmt.MetricFamilyToText(&b, f)
		}
		haystacks["metrics"] = b.String()
	}
	leaks := testutil.FindLeaks(needles, haystacks)
	fmt.Fprintf(os.Stderr, "leak scan: %d secrets and tokens looked for in %d KiB of logs, the metrics, %d Events and %d statuses\n",
		len(needles), len(logs.String())/1024, len(evs.Items)+len(coreEvs.Items), len(ocs.Items))
	return leaks
}

// Timing of the test managers: short enough for the suite, long enough to show
// the minimum interval and the backoff.
const (
	testMinInterval = time.Second
	testRetryBase   = time.Second
	testRetryMax    = 4 * time.Second
	timeout         = 30 * time.Second
	poll            = 100 * time.Millisecond
)

var _ = metav1.Now
