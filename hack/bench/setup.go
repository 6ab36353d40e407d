package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
	"github.com/tokenator-dev/tokenator/operator"
)

// phaseSets are the OAuthClients of the phases whose clients the token
// endpoint knows from the start.
type phaseSets struct {
	cold, floor, refresh, outage clientSet
}

func newPhaseSets(o options) phaseSets {
	return phaseSets{
		cold:    newClientSet("bench", o.n, o.namespaces),
		floor:   newClientSet("floor", o.n, o.namespaces),
		refresh: newClientSet("refresh", o.refresh, o.namespaces),
		outage:  newClientSet("outage", o.outageN, o.namespaces),
	}
}

// run builds the manager, starts the token endpoint, the control plane and the
// counting proxy, runs the phases and stops everything it started.
func run(ctx context.Context, o options, res *results) (err error) {
	root, assets, err := locate(o.root)
	if err != nil {
		return err
	}
	b := &bench{o: o, res: res, tmp: os.Getenv(childEnv)}
	if err := b.buildManager(ctx, root); err != nil {
		return err
	}
	sets := newPhaseSets(o)
	b.idp = startEndpoint(sets)
	defer b.idp.Close()
	b.caFile = filepath.Join(b.tmp, "token-endpoint-ca.pem")
	if err := os.WriteFile(b.caFile, b.idp.CAPEM(), 0o600); err != nil {
		return err
	}

	say("starting kube-apiserver and etcd from %s", assets)
	env := controlPlane(root, assets)
	// Everything that talks to the API server stops before it: the bench's
	// informers, the manager, the proxy and its idle connections.
	ctx, stopClients := context.WithCancel(ctx)
	cfg, err := env.Start()
	defer func() {
		stopClients()
		if serr := b.stopAll(env); serr != nil {
			err = errors.Join(err, serr)
		}
	}()
	if err != nil {
		return fmt.Errorf("starting the control plane: %w", err)
	}
	if err := b.connect(env, cfg); err != nil {
		return err
	}
	if o.hostile > 0 {
		res.Hostile, err = b.hostilePhase(ctx)
		return err
	}
	return b.phases(ctx, sets)
}

// locate returns the repository root and the directory of kube-apiserver and
// etcd: KUBEBUILDER_ASSETS, else the root's bin/k8s.
func locate(dir string) (root, assets string, err error) {
	if root, err = filepath.Abs(dir); err != nil {
		return "", "", err
	}
	if _, err := os.Stat(filepath.Join(root, "cmd", "main.go")); err != nil {
		return "", "", fmt.Errorf("-root %s is not the tokenator repository: %w", root, err)
	}
	if assets = os.Getenv("KUBEBUILDER_ASSETS"); assets == "" {
		assets = filepath.Join(root, "bin", "k8s")
	}
	if _, err := os.Stat(filepath.Join(assets, "kube-apiserver")); err != nil {
		return "", "", fmt.Errorf("no kube-apiserver in %s (set KUBEBUILDER_ASSETS, or run `make control-plane`): %w", assets, err)
	}
	return root, assets, nil
}

// buildManager builds the manager binary into the work directory, with the
// profiling endpoints when -profile is set.
func (b *bench) buildManager(ctx context.Context, root string) (err error) {
	say("building the manager (go build ./cmd)")
	b.binary = filepath.Join(b.tmp, "manager")
	buildArgs := []string{"build", "-o", b.binary}
	if b.o.profile != "" {
		if b.o.profile, err = filepath.Abs(b.o.profile); err != nil {
			return err
		}
		buildArgs = append(buildArgs, "-tags", "benchprofile")
	}
	build := exec.CommandContext(ctx, "go", append(buildArgs, "./cmd")...)
	build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("building the manager: %w", err)
	}
	return nil
}

// startEndpoint starts the token endpoint, which knows the clients of sets.
func startEndpoint(sets phaseSets) *oauthtest.Server {
	clients := sets.cold.credentials()
	for _, cs := range []clientSet{sets.floor, sets.refresh, sets.outage} {
		for id, secret := range cs.credentials() {
			clients[id] = secret
		}
	}
	return oauthtest.NewServer(oauthtest.Config{Kind: oauthtest.Lucca, Clients: clients, Lifetime: tokenLifetime})
}

// controlPlane is the kube-apiserver and etcd of assets, with the CRDs of root.
func controlPlane(root, assets string) *envtest.Environment {
	return &envtest.Environment{
		CRDDirectoryPaths:        []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing:    true,
		BinaryAssetsDirectory:    assets,
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}
}

// connect sets up the bench's own client, and the counting proxy through
// which the manager reaches the API server with the identity of a
// system:masters user whose client certificate the proxy presents upstream.
func (b *bench) connect(env *envtest.Environment, cfg *rest.Config) (err error) {
	b.admin = rest.CopyConfig(cfg)
	b.admin.QPS, b.admin.UserAgent = -1, "tokenator-bench"
	if b.c, err = client.New(b.admin, client.Options{Scheme: operator.NewScheme()}); err != nil {
		return err
	}
	user, err := env.AddUser(envtest.User{Name: "tokenator-manager", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("adding the manager's user: %w", err)
	}
	upstreamCfg := user.Config()
	if b.upstreamRT, err = rest.TransportFor(upstreamCfg); err != nil {
		return err
	}
	upstream, err := url.Parse(upstreamCfg.Host)
	if err != nil {
		return err
	}
	if b.proxy, err = startProxy(upstream, b.upstreamRT); err != nil {
		return err
	}
	b.viaProxy = &rest.Config{Host: b.proxy.URL(), TLSClientConfig: rest.TLSClientConfig{CAData: b.proxy.caPEM}}
	b.kubeconfig, err = writeKubeconfig(b.tmp, b.proxy)
	return err
}

// stopAll kills the manager, closes the proxy and its connections, then
// stops the control plane.
func (b *bench) stopAll(env *envtest.Environment) error {
	if b.mgr != nil {
		b.mgr.stop(syscall.SIGKILL)
	}
	if b.proxy != nil {
		b.proxy.Close()
	}
	utilnet.CloseIdleConnectionsFor(b.upstreamRT)
	start := time.Now()
	var err error
	if serr := env.Stop(); serr != nil {
		err = fmt.Errorf("stopping the control plane: %w", serr)
	}
	say("control plane stopped in %.1fs", time.Since(start).Seconds())
	return err
}

// phases runs the phases in turn: floor, cold, steady, refresh, a crash and
// the restarts, shared tokens, and the outage.
func (b *bench) phases(ctx context.Context, sets phaseSets) (err error) {
	if err := b.floorPhase(ctx, sets.floor); err != nil {
		return err
	}
	if err := b.coldPhase(ctx, sets.cold); err != nil {
		return err
	}
	if err := b.steadyPhase(ctx); err != nil {
		return err
	}
	if sets.refresh.n > 0 {
		if err := b.refreshPhase(ctx, sets.refresh); err != nil {
			return err
		}
	}
	// A crash: no graceful shutdown.
	b.mgr.stop(syscall.SIGKILL)
	b.mgr = nil
	if err := b.restartPhases(ctx); err != nil {
		return err
	}
	if b.o.shared {
		if b.res.Shared, err = b.sharedPhase(ctx, sets.cold.clientID(0), sets.cold.secretOf(0)); err != nil {
			return err
		}
	}
	if !b.res.earliestRefresh.IsZero() && time.Now().After(b.res.earliestRefresh) {
		b.res.Notes = append(b.res.Notes, fmt.Sprintf("the run outlasted the earliest planned refresh (%s): the restart figures may include due refreshes",
			b.res.earliestRefresh.UTC().Format(time.RFC3339)))
	}
	if b.o.outage > 0 {
		// Last: the cold and shared phases' clients are deleted first, so
		// that none of their refreshes falls in the outage.
		return b.outagePhase(ctx, sets.outage, sets.cold, sharedClients(b.o))
	}
	return nil
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
