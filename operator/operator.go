// Package operator builds the tokenator manager: the one place where the cache,
// the reconciler and the probes are wired, used by the binary, the demo and the
// tests alike.
package operator

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/controllers"
	"github.com/tokenator-dev/tokenator/internal/netguard"
	"github.com/tokenator-dev/tokenator/internal/oauth"
)

// Config is what the command line sets.
type Config struct {
	MetricsBindAddress string
	// MetricsSecure serves metrics over HTTPS, to scrapers whose bearer token the
	// API server authenticates and authorizes for a get of /metrics; false serves
	// plain HTTP to anyone (local runs).
	MetricsSecure bool
	// MetricsCertDir holds MetricsCertName and MetricsKeyName, the metrics
	// endpoint's certificate and key; without them it uses a self-signed one.
	MetricsCertDir, MetricsCertName, MetricsKeyName string
	HealthProbeBindAddress                          string
	LeaderElection                                  bool
	LeaderElectionID                                string
	LeaderElectionNS                                string
	// LeaseDuration, RenewDeadline and RetryPeriod tune leader election; zero
	// means controller-runtime's defaults (15s, 10s, 2s).
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	EnableHTTP2                               bool
	TokenRequestTimeout                       time.Duration
	// AllowedTokenHosts are host patterns a tokenURL may name (see
	// netguard.ValidateHostPattern); empty allows all.
	AllowedTokenHosts []string
	// DeniedTokenNetworks are never connected to for a token request; the
	// default is netguard.DefaultDeniedNetworks, which denies loopback.
	DeniedTokenNetworks []netip.Prefix
	// AllowPrivateTokenNetworks lets the endpoints OAuthClients name
	// themselves reach netguard.PrivateNetworks, as ClusterOAuthProviders'
	// endpoints always may.
	AllowPrivateTokenNetworks bool
	// TokenDialer is the base of the token requests' dialers, which the
	// network guards wrap; nil means oauth.NewDialer(). A test sets one whose
	// resolver and Control are stubs.
	TokenDialer *net.Dialer
	Reconciler  controllers.Options
}

// DefaultConfig returns the defaults of the command line flags.
func DefaultConfig() Config {
	return Config{
		MetricsBindAddress:     ":8443",
		MetricsSecure:          true,
		MetricsCertName:        "tls.crt",
		MetricsKeyName:         "tls.key",
		HealthProbeBindAddress: ":8081",
		LeaderElectionID:       "tokenator.tokenator.dev",
		TokenRequestTimeout:    30 * time.Second,
		DeniedTokenNetworks:    netguard.DefaultDeniedNetworks,
		Reconciler:             controllers.DefaultOptions(),
	}
}

// NewScheme returns the scheme of the manager: the built-in types and tokenator's.
func NewScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(tokenatorv1.AddToScheme(s))
	return s
}

// NewManager builds a manager running the OAuthClient and
// ClusterOAuthProvider reconcilers.
func NewManager(ctx context.Context, restConfig *rest.Config, cfg Config) (ctrl.Manager, error) {
	mgr, err := ctrl.NewManager(restConfig, managerOptions(cfg))
	if err != nil {
		return nil, fmt.Errorf("creating the manager: %w", err)
	}
	if err := addControllers(ctx, mgr, cfg); err != nil {
		return nil, err
	}
	if cfg.HealthProbeBindAddress != "" && cfg.HealthProbeBindAddress != "0" {
		if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
			return nil, err
		}
		if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
			return nil, err
		}
	}
	return mgr, nil
}

// managerOptions are the manager's cache, client, servers and leader election.
func managerOptions(cfg Config) ctrl.Options {
	var tlsOpts []func(*tls.Config)
	if !cfg.EnableHTTP2 {
		// HTTP/2 stays off unless asked for: see CVE-2023-44487 and CVE-2023-39325.
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	metricsOpts := metricsserver.Options{BindAddress: cfg.MetricsBindAddress}
	if cfg.MetricsSecure {
		metricsOpts.SecureServing = true
		metricsOpts.TLSOpts = tlsOpts
		metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
		metricsOpts.CertDir = cfg.MetricsCertDir
		metricsOpts.CertName = cfg.MetricsCertName
		metricsOpts.KeyName = cfg.MetricsKeyName
	}
	return ctrl.Options{
		Scheme:                  NewScheme(),
		Cache:                   controllers.CacheOptions(cfg.Reconciler.Namespaces),
		Client:                  controllers.ClientOptions(),
		Metrics:                 metricsOpts,
		WebhookServer:           webhook.NewServer(webhook.Options{TLSOpts: tlsOpts}),
		HealthProbeBindAddress:  cfg.HealthProbeBindAddress,
		LeaderElection:          cfg.LeaderElection,
		LeaderElectionID:        cfg.LeaderElectionID,
		LeaderElectionNamespace: cfg.LeaderElectionNS,
		LeaseDuration:           nonZero(cfg.LeaseDuration),
		RenewDeadline:           nonZero(cfg.RenewDeadline),
		RetryPeriod:             nonZero(cfg.RetryPeriod),
		// The manager stops right after the leader's lease is released, so a
		// successor takes over without waiting for the lease to expire.
		LeaderElectionReleaseOnCancel: true,
	}
}

// addControllers registers the OAuthClient and ClusterOAuthProvider
// controllers with mgr; their token requests go through the network guards.
func addControllers(ctx context.Context, mgr ctrl.Manager, cfg Config) error {
	own, provider, err := newGuards(cfg)
	if err != nil {
		return err
	}
	rc := cfg.Reconciler
	if rc.ClusterResourceNamespace == "" {
		rc.ClusterResourceNamespace = ManagerNamespace()
	}
	return controllers.Setup(ctx, mgr, controllers.Dependencies{
		HTTPClients: oauth.NewHTTPClientsByReach(guarded(cfg, own), guarded(cfg, provider)),
		TokenHosts:  provider,
		Options:     rc,
	})
}

// newGuards returns the network guards of the token requests: own, of the
// endpoints OAuthClients name themselves, which also refuses the private
// networks unless cfg allows them, and provider, of ClusterOAuthProviders'
// endpoints. Both allow the same hosts and deny the same networks.
func newGuards(cfg Config) (own, provider *netguard.Guard, err error) {
	if provider, err = netguard.New(cfg.AllowedTokenHosts, cfg.DeniedTokenNetworks); err != nil {
		return nil, nil, err
	}
	if own, err = netguard.New(cfg.AllowedTokenHosts, cfg.DeniedTokenNetworks); err != nil {
		return nil, nil, err
	}
	if !cfg.AllowPrivateTokenNetworks {
		own.Private = netguard.PrivateNetworks
	}
	dialer := cfg.TokenDialer
	if dialer == nil {
		dialer = oauth.NewDialer()
	}
	own.Dialer, provider.Dialer = dialer, dialer // each guard dials with a copy
	return own, provider, nil
}

// guarded returns the options of the token clients that connect through g.
func guarded(cfg Config, g *netguard.Guard) oauth.HTTPOptions {
	return oauth.HTTPOptions{
		Timeout:     cfg.TokenRequestTimeout,
		DialContext: g.DialContext,
		Proxy:       g.Proxy(http.ProxyFromEnvironment),
	}
}

// serviceAccountNamespaceFile holds the namespace of a pod's ServiceAccount.
const serviceAccountNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// ManagerNamespace is the namespace the manager runs in: the POD_NAMESPACE
// environment variable, else the namespace of the pod's ServiceAccount, else
// tokenator-system. It is the default of --cluster-resource-namespace.
func ManagerNamespace() string {
	if ns := strings.TrimSpace(os.Getenv("POD_NAMESPACE")); ns != "" {
		return ns
	}
	if b, err := os.ReadFile(serviceAccountNamespaceFile); err == nil {
		if ns := strings.TrimSpace(string(b)); ns != "" {
			return ns
		}
	}
	return controllers.ClusterResourceNamespaceDefault
}

func nonZero(d time.Duration) *time.Duration {
	if d == 0 {
		return nil
	}
	return &d
}
