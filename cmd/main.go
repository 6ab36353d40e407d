// Command manager runs the tokenator operator.
package main

import (
	"flag"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/tokenator-dev/tokenator/internal/netguard"
	"github.com/tokenator-dev/tokenator/operator"
)

func main() {
	f := bindFlags()
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&f.zap)))
	log := ctrl.Log.WithName("setup")

	cfg, invalid, err := f.config()
	if err != nil {
		log.Error(err, invalid)
		os.Exit(1)
	}
	restConfig := ctrl.GetConfigOrDie()
	restConfig.QPS, restConfig.Burst = clientRateLimit(f.qps, f.burst)
	restConfig.UserAgent = "tokenator"

	ctx := ctrl.SetupSignalHandler()
	mgr, err := operator.NewManager(ctx, restConfig, cfg)
	if err != nil {
		log.Error(err, "Unable to set up the manager")
		os.Exit(1)
	}
	log.Info("Starting the manager")
	if err := mgr.Start(ctx); err != nil {
		log.Error(err, "The manager stopped with an error")
		os.Exit(1)
	}
}

// flags are the command line: the manager's configuration, and the values
// that config parses into it.
type flags struct {
	cfg                                                           operator.Config
	qps                                                           float64
	burst                                                         int
	namespaces, allowedHosts, credentialsSelector, deniedNetworks string
	zap                                                           zap.Options
}

// bindFlags defines the command line's flags.
func bindFlags() *flags {
	f := &flags{cfg: operator.DefaultConfig()}
	cfg := &f.cfg
	f.deniedNetworks = netguard.FormatNetworks(cfg.DeniedTokenNetworks)
	flag.StringVar(&cfg.MetricsBindAddress, "metrics-bind-address", cfg.MetricsBindAddress, "The address the metrics endpoint binds to; 0 disables it.")
	flag.BoolVar(&cfg.MetricsSecure, "metrics-secure", cfg.MetricsSecure, "Serve metrics over HTTPS to authenticated and authorized scrapers only; false serves plain HTTP to anyone.")
	flag.StringVar(&cfg.MetricsCertDir, "metrics-cert-dir", "", "The directory of the metrics endpoint's certificate and key; empty uses a self-signed certificate.")
	flag.StringVar(&cfg.MetricsCertName, "metrics-cert-name", cfg.MetricsCertName, "The metrics endpoint's certificate file in --metrics-cert-dir.")
	flag.StringVar(&cfg.MetricsKeyName, "metrics-cert-key", cfg.MetricsKeyName, "The metrics endpoint's key file in --metrics-cert-dir.")
	flag.StringVar(&cfg.HealthProbeBindAddress, "health-probe-bind-address", cfg.HealthProbeBindAddress, "The address the health probe endpoint binds to.")
	flag.BoolVar(&cfg.LeaderElection, "leader-elect", false, "Enable leader election, so that only one replica requests tokens.")
	flag.StringVar(&cfg.LeaderElectionNS, "leader-election-namespace", "", "The namespace of the leader election lease; defaults to the namespace the manager runs in.")
	flag.DurationVar(&cfg.LeaseDuration, "leader-elect-lease-duration", 15*time.Second, "How long a replica waits before taking over a lease that was not renewed.")
	flag.DurationVar(&cfg.RenewDeadline, "leader-elect-renew-deadline", 10*time.Second, "How long the leader keeps trying to renew its lease before it gives up leadership and exits.")
	flag.DurationVar(&cfg.RetryPeriod, "leader-elect-retry-period", 2*time.Second, "How often leader election is tried.")
	flag.BoolVar(&cfg.EnableHTTP2, "enable-http2", false, "Serve HTTPS metrics over HTTP/2 as well (off by default: CVE-2023-44487, CVE-2023-39325).")
	flag.Float64Var(&f.qps, "kube-api-qps", 0, "A client-side limit of queries per second to the Kubernetes API server; 0 sets none (the API server's Priority and Fairness protects it, and --concurrent-reconciles bounds the load).")
	flag.IntVar(&f.burst, "kube-api-burst", 0, "Burst of queries to the Kubernetes API server, with --kube-api-qps; 0 means twice the QPS.")
	flag.IntVar(&cfg.Reconciler.MaxConcurrentReconciles, "concurrent-reconciles", cfg.Reconciler.MaxConcurrentReconciles, "How many OAuthClients are reconciled at once.")
	flag.IntVar(&cfg.Reconciler.MaxRequestsPerHost, "max-requests-per-host", cfg.Reconciler.MaxRequestsPerHost, "Token requests in flight to one token endpoint host at most; 0 means no limit.")
	flag.IntVar(&cfg.Reconciler.MaxRequestsPerNamespace, "max-requests-per-namespace", cfg.Reconciler.MaxRequestsPerNamespace, "Token requests in flight of one namespace at most, so that one namespace cannot hold every worker; 0 means three quarters of --concurrent-reconciles.")
	flag.StringVar(&f.namespaces, "namespaces", "", "Comma-separated namespaces to watch; empty watches all.")
	flag.StringVar(&f.credentialsSelector, "credentials-selector", "", "A label selector (such as tokenator.dev/credentials=true) that credentials Secrets must match to be used; empty uses any Secret.")
	flag.StringVar(&cfg.Reconciler.ClusterResourceNamespace, "cluster-resource-namespace", "", "The namespace of the Secrets and ConfigMaps ClusterOAuthProviders refer to, and of their shared tokens; empty means the namespace the manager runs in (POD_NAMESPACE, else its ServiceAccount's), else tokenator-system.")
	flag.BoolVar(&cfg.Reconciler.RequireProviderRef, "require-provider-ref", false, "Refuse OAuthClients without spec.providerRef (InvalidSpec), so that only the endpoints of ClusterOAuthProviders are called.")
	flag.DurationVar(&cfg.TokenRequestTimeout, "token-request-timeout", cfg.TokenRequestTimeout, "Timeout of one token request.")
	flag.DurationVar(&cfg.Reconciler.MinRequestInterval, "min-request-interval", cfg.Reconciler.MinRequestInterval, "Shortest time between two token requests of one OAuthClient.")
	flag.DurationVar(&cfg.Reconciler.RetryBaseDelay, "retry-base-delay", cfg.Reconciler.RetryBaseDelay, "Delay after a first failed token request; doubles with each further failure.")
	flag.DurationVar(&cfg.Reconciler.RetryMaxDelay, "retry-max-delay", cfg.Reconciler.RetryMaxDelay, "Longest delay between retries of a failing token request.")
	flag.StringVar(&f.allowedHosts, "allowed-token-hosts", "", "Comma-separated hosts a tokenURL may name: host names, IP addresses, or *. and a host name, where * is exactly one label (*.example.com matches a.example.com, not a.b.example.com); empty allows every host.")
	flag.StringVar(&f.deniedNetworks, "denied-token-networks", f.deniedNetworks, "Comma-separated CIDRs never connected to for a token request, checked on the address being connected to (NAT64, 6to4 and Teredo forms of a denied IPv4 address included); setting it replaces the default list.")
	flag.BoolVar(&cfg.AllowPrivateTokenNetworks, "allow-private-token-networks", false, "Let the tokenURL an OAuthClient names itself reach the private networks ("+netguard.FormatNetworks(netguard.PrivateNetworks)+"), as a ClusterOAuthProvider's endpoint always may; off, a tenant's tokenURL cannot reach other namespaces' services.")
	f.zap.Development = false
	f.zap.BindFlags(flag.CommandLine)
	return f
}

// config returns the manager's configuration from the parsed flags, or the
// message that names the invalid flag and its error.
func (f *flags) config() (operator.Config, string, error) {
	cfg := f.cfg
	cfg.Reconciler.Namespaces = splitList(f.namespaces)
	cfg.AllowedTokenHosts = splitList(f.allowedHosts)
	for _, p := range cfg.AllowedTokenHosts {
		if err := netguard.ValidateHostPattern(p); err != nil {
			return cfg, "Invalid --allowed-token-hosts", err
		}
	}
	var err error
	if cfg.Reconciler.CredentialsSelector, err = labels.Parse(f.credentialsSelector); err != nil {
		return cfg, "Invalid --credentials-selector", err
	}
	if cfg.DeniedTokenNetworks, err = netguard.ParseNetworks(f.deniedNetworks); err != nil {
		return cfg, "Invalid --denied-token-networks", err
	}
	return cfg, "", nil
}

// clientRateLimit is the rest.Config QPS and burst for the flags: no
// client-side limit unless a QPS is given (a negative QPS is how client-go
// turns its rate limiter off).
func clientRateLimit(qps float64, burst int) (float32, int) {
	if qps <= 0 {
		return -1, 0
	}
	if burst <= 0 {
		burst = max(1, int(2*qps))
	}
	return float32(qps), burst
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
