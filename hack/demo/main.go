// Command demo shows tokenator at work on a machine with no cluster: it starts a
// local kube-apiserver, etcd and, when built, kube-controller-manager (garbage
// collector and namespace controller), installs the CRD, starts a local HTTPS token endpoint
// that behaves like Lucca's, runs the manager, applies the Lucca sample and
// shows the derived Secret, the status and each refresh until Ctrl-C, or until
// the OAuthClient is deleted: then the garbage collector deletes its Secret.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/netguard"
	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
	"github.com/tokenator-dev/tokenator/internal/testutil/kcm"
	"github.com/tokenator-dev/tokenator/operator"
)

type options struct {
	root     string        // the repository root
	lifetime time.Duration // lifetime of the demo endpoint's tokens
	once     bool          // delete the OAuthClient once the first token is in the Secret, and stop
	// gc starts kube-controller-manager, which deletes the Secret of a
	// deleted OAuthClient.
	gc  bool
	out io.Writer
}

func main() {
	// kube-controller-manager is optional: `make demo` needs only what
	// `make test` needs; `make controller-manager` builds it.
	opts := options{out: os.Stdout, gc: kcm.Available()}
	flag.StringVar(&opts.root, "root", ".", "The repository root (config/ is read from there).")
	flag.DurationVar(&opts.lifetime, "token-lifetime", 90*time.Second, "Lifetime of the demo endpoint's tokens, short so that refreshes show.")
	flag.BoolVar(&opts.once, "once", false, "Once the token is in the Secret, delete the OAuthClient and stop, instead of running until Ctrl-C.")
	verbose := flag.Bool("v", false, "Show the manager's logs.")
	flag.Parse()
	logOut := io.Discard
	if *verbose {
		logOut = os.Stderr
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(logOut)))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, opts); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// demo holds what the steps of the demo share.
type demo struct {
	opts options
	say  func(format string, args ...any)
	c    client.Client
	idp  *oauthtest.Server
}

// ns is the namespace of the sample.
const ns = "demo"

func run(ctx context.Context, opts options) (err error) {
	d := &demo{opts: opts, say: func(format string, args ...any) { fmt.Fprintf(opts.out, format+"\n", args...) }}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return errors.New("KUBEBUILDER_ASSETS is not set: run `make demo`, which puts kube-apiserver and etcd into bin/k8s")
	}

	d.say("==> Starting a local kube-apiserver and etcd, and installing the OAuthClient and ClusterOAuthProvider CRDs")
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(opts.root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		return fmt.Errorf("starting the control plane: %w", err)
	}
	defer func() {
		d.say("==> Stopping the control plane")
		err = errors.Join(err, env.Stop())
	}()
	stopCluster, err := d.startCluster(env)
	defer stopCluster()
	if err != nil {
		return err
	}

	if d.c, err = client.New(cfg, client.Options{Scheme: operator.NewScheme()}); err != nil {
		return err
	}
	secret, oc, err := readSample(filepath.Join(opts.root, "config", "samples", "tokenator_v1alpha1_oauthclient_lucca.yaml"))
	if err != nil {
		return err
	}

	d.say("==> Starting a local HTTPS token endpoint that behaves like Lucca's (form encoding only, %s tokens)", opts.lifetime)
	d.idp = oauthtest.NewServer(oauthtest.Config{
		Kind:     oauthtest.Lucca,
		Clients:  map[string]string{secret.StringData["client_id"]: secret.StringData["client_secret"]},
		Lifetime: opts.lifetime,
	})
	defer d.idp.Close()
	d.say("    %s", d.idp.URL())

	stopManager, err := d.startManager(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, stopManager()) }()

	if err := d.applySample(ctx, secret, oc); err != nil {
		return err
	}
	return d.watch(ctx, oc)
}

// startCluster writes a kubeconfig of the control plane and, when it is
// available, starts kube-controller-manager; stop undoes both.
func (d *demo) startCluster(env *envtest.Environment) (stop func(), err error) {
	kubeconfig, err := writeKubeconfig(env)
	if err != nil {
		return func() {}, err
	}
	removeKubeconfig := func() { _ = os.RemoveAll(filepath.Dir(kubeconfig)) }
	d.say("    kubectl works against it meanwhile: export KUBECONFIG=%s", kubeconfig)
	if !d.opts.gc {
		d.say("    (no kube-controller-manager in KUBEBUILDER_ASSETS, so no garbage collector: `make controller-manager` builds it)")
		return removeKubeconfig, nil
	}
	d.say("==> Starting kube-controller-manager (garbage collector and namespace controller)")
	kcmProc, err := kcm.Start(env, time.Minute)
	if err != nil {
		return removeKubeconfig, err
	}
	return func() {
		kcmProc.Stop()
		removeKubeconfig()
	}, nil
}

// startManager starts the tokenator manager; stop stops it and returns its
// error.
func (d *demo) startManager(ctx context.Context, cfg *rest.Config) (stop func() error, err error) {
	d.say("==> Starting the tokenator manager")
	mgrCfg := operator.DefaultConfig()
	mgrCfg.MetricsBindAddress = "0"
	mgrCfg.HealthProbeBindAddress = "0"
	// The local endpoint listens on loopback, which the default list denies.
	mgrCfg.DeniedTokenNetworks = netguard.Without(netguard.DefaultDeniedNetworks, netguard.LoopbackNetworks...)
	mgrCtx, stopManager := context.WithCancel(ctx)
	mgr, err := operator.NewManager(mgrCtx, cfg, mgrCfg)
	if err != nil {
		stopManager()
		return nil, err
	}
	mgrDone := make(chan error, 1)
	go func() { mgrDone <- mgr.Start(mgrCtx) }()
	return func() error {
		stopManager()
		return <-mgrDone
	}, nil
}

// applySample creates the sample's Secret and OAuthClient in ns, with the
// tokenURL pointed at the local endpoint and its CA trusted.
func (d *demo) applySample(ctx context.Context, secret *corev1.Secret, oc *tokenatorv1.OAuthClient) error {
	d.say("==> Applying config/samples/tokenator_v1alpha1_oauthclient_lucca.yaml in namespace %q,", ns)
	d.say("    with tokenURL pointed at the local endpoint and its CA trusted")
	if err := d.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return err
	}
	if err := d.c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "local-idp-ca", Namespace: ns},
		Data: map[string][]byte{"ca.crt": d.idp.CAPEM()}}); err != nil {
		return err
	}
	secret.Namespace, oc.Namespace = ns, ns
	oc.Spec.TokenURL = d.idp.URL()
	oc.Spec.TLS = &tokenatorv1.TLSConfig{CASecretRef: &tokenatorv1.KeySelector{Name: "local-idp-ca"}}
	if err := d.c.Create(ctx, secret); err != nil {
		return err
	}
	return d.c.Create(ctx, oc)
}

// watch shows the OAuthClient each time it holds a new token, until ctx ends,
// or, with -once, until its first token; with the garbage collector, until it
// is deleted and its Secret gone.
func (d *demo) watch(ctx context.Context, oc *tokenatorv1.OAuthClient) error {
	d.say("==> Waiting for the OAuthClient to be Ready")
	key := types.NamespacedName{Namespace: ns, Name: oc.Name}
	var lastToken time.Time
	var secretName string
	for {
		if err := d.c.Get(ctx, key, oc); apierrors.IsNotFound(err) && d.opts.gc && secretName != "" {
			d.say("\n==> The OAuthClient was deleted")
			return waitSecretGone(ctx, d.c, ns, secretName, d.say)
		} else if err != nil {
			return err
		}
		if ready := meta.FindStatusCondition(oc.Status.Conditions, tokenatorv1.ConditionReady); ready != nil &&
			oc.Status.LastRefreshTime != nil && oc.Status.LastRefreshTime.After(lastToken) {
			lastToken = oc.Status.LastRefreshTime.Time
			secretName = oc.Status.SecretName
			if done, err := d.newToken(ctx, oc); done || err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			d.say("")
			return nil
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// newToken shows oc, which holds a new token; with -once it then deletes it,
// waits for the garbage collector, if any, and is done.
func (d *demo) newToken(ctx context.Context, oc *tokenatorv1.OAuthClient) (done bool, err error) {
	if err := show(ctx, d.c, oc, d.say); err != nil {
		return true, err
	}
	if d.opts.once {
		if !d.opts.gc {
			return true, nil
		}
		d.say("\n==> Deleting the OAuthClient")
		if err := d.c.Delete(ctx, oc); err != nil {
			return true, err
		}
		return true, waitSecretGone(ctx, d.c, ns, oc.Status.SecretName, d.say)
	}
	d.say("    (next refresh at %s; Ctrl-C stops the demo)", oc.Status.RefreshAt.UTC().Format(time.RFC3339))
	if d.opts.gc {
		d.say("    (kubectl delete oauthclient -n %s %s: the garbage collector deletes its Secret)", ns, oc.Name)
	}
	return false, nil
}

// waitSecretGone waits until the garbage collector has deleted the Secret of a
// deleted OAuthClient.
func waitSecretGone(ctx context.Context, c client.Client, ns, name string, say func(string, ...any)) error {
	for {
		err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &corev1.Secret{})
		if apierrors.IsNotFound(err) {
			say("    the garbage collector deleted its Secret %s/%s", ns, name)
			return nil
		} else if err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the Secret %s/%s of the deleted OAuthClient is still there: %w", ns, name, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// show prints the Ready condition, the derived Secret's keys and the status.
func show(ctx context.Context, c client.Client, oc *tokenatorv1.OAuthClient, say func(string, ...any)) error {
	ready := meta.FindStatusCondition(oc.Status.Conditions, tokenatorv1.ConditionReady)
	say("\n%s  OAuthClient %s/%s  Ready=%s  reason=%s", time.Now().UTC().Format(time.RFC3339), oc.Namespace, oc.Name, ready.Status, ready.Reason)
	say("    message: %s", ready.Message)
	var s corev1.Secret
	if err := c.Get(ctx, types.NamespacedName{Namespace: oc.Namespace, Name: oc.Status.SecretName}, &s); err != nil {
		return err
	}
	say("  Secret %s (type %s, managed-by=%s):", s.Name, s.Type, s.Labels[tokenatorv1.LabelManagedBy])
	for _, k := range slices.Sorted(maps.Keys(s.Data)) {
		v := string(s.Data[k])
		switch k {
		case tokenatorv1.SecretKeyAccessToken, tokenatorv1.SecretKeyAuthorization:
			v = fmt.Sprintf("<%d bytes>", len(v))
		}
		say("    %-14s %s", k, v)
	}
	st := oc.Status
	say("  status: tokenType=%s expiresAt=%s lastRefreshTime=%s refreshAt=%s failedAttempts=%d",
		st.TokenType, st.ExpiresAt.UTC().Format(time.RFC3339), st.LastRefreshTime.UTC().Format(time.RFC3339),
		st.RefreshAt.UTC().Format(time.RFC3339), st.FailedAttempts)
	return nil
}

// readSample reads the credentials Secret and the OAuthClient of a sample file.
func readSample(path string) (*corev1.Secret, *tokenatorv1.OAuthClient, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	secret, oc := &corev1.Secret{}, &tokenatorv1.OAuthClient{}
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		var probe struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &probe); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		var target any
		switch probe.Kind {
		case "Secret":
			target = secret
		case "OAuthClient":
			target = oc
		default:
			return nil, nil, fmt.Errorf("%s: unexpected kind %q", path, probe.Kind)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), target); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	return secret, oc, nil
}

// writeKubeconfig writes an admin kubeconfig of the local control plane.
func writeKubeconfig(env *envtest.Environment) (string, error) {
	user, err := env.AddUser(envtest.User{Name: "demo-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", fmt.Errorf("creating the demo user: %w", err)
	}
	data, err := user.KubeConfig()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "tokenator-demo-")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "kubeconfig")
	return path, os.WriteFile(path, data, 0o600)
}
