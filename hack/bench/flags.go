package main

import (
	"flag"
	"time"
)

// options are the command line.
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
		o.smokeDefaults()
	}
	if o.timeout <= 0 {
		o.timeout = o.defaultTimeout()
	}
	return o
}

// smokeDefaults sets the sizes of -smoke that no flag set.
func (o *options) smokeDefaults() {
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

// defaultTimeout bounds the whole run by its sizes.
func (o *options) defaultTimeout() time.Duration {
	return 10*time.Minute + o.steady + o.outage + retryMaxDelay +
		time.Duration(o.refresh+o.outageN)*50*time.Millisecond +
		time.Duration(o.n)*250*time.Millisecond +
		time.Duration(o.secrets)*10*time.Millisecond +
		time.Duration(o.labelled*o.labelledMiB)*200*time.Millisecond
}
