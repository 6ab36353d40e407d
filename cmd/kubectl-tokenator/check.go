package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/client-go/kubernetes"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
)

// leaseName is the manager's leader election Lease (its LeaderElectionID).
const leaseName = "tokenator.tokenator.dev"

// timeoutExitCode is the exit code of check api when --wait expires, as
// timeout(1) and cmctl use.
const timeoutExitCode = 124

type checkAPIOptions struct {
	*options
	wait, interval   time.Duration
	managerNamespace string
}

func newCheckCommand(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check that tokenator is ready",
		Args:  cobra.NoArgs,
	}
	c := &checkAPIOptions{options: o}
	api := &cobra.Command{
		Use:   "api",
		Short: "Check that the tokenator API is served and a manager runs",
		Long: "check api succeeds when all three hold: the API server serves oauthclients.tokenator.dev and\n" +
			"clusteroauthproviders.tokenator.dev; a server-side dry-run create of an OAuthClient in the\n" +
			"namespace (-n, else the context's) is accepted, so the CRD's schema and validation work; and a\n" +
			"manager holds its leader election Lease " + leaseName + " in --manager-namespace, renewed\n" +
			"within the Lease's duration by this machine's clock. It creates nothing. With --wait it checks\n" +
			"every --interval until all hold or --wait has passed, then exits with code 124; otherwise a\n" +
			"failed check exits with code 1.",
		Example: "  kubectl tokenator check api\n  kubectl tokenator check api --wait 2m\n  kubectl tokenator check api --manager-namespace tokenator --wait 2m",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.run(cmd.Context())
		},
	}
	api.Flags().DurationVar(&c.wait, "wait", 0, "How long to wait for the API to be ready; 0 checks once.")
	api.Flags().DurationVar(&c.interval, "interval", 5*time.Second, "Time between two checks while waiting.")
	api.Flags().StringVar(&c.managerNamespace, "manager-namespace", defaultManagerNamespace,
		"The namespace of the manager's leader election Lease (its --leader-election-namespace; the Helm release's namespace).")
	cmd.AddCommand(api)
	return cmd
}

func (c *checkAPIOptions) run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if c.interval <= 0 {
		return errors.New("--interval must be positive")
	}
	deadline := c.now().Add(c.wait)
	for {
		ready, err := c.check(ctx)
		if err == nil {
			_, err = fmt.Fprintf(c.streams.Out, "The tokenator API is ready: %s\n", ready)
			return err
		}
		left := deadline.Sub(c.now())
		if c.wait <= 0 {
			return err
		}
		if left <= 0 {
			return &exitError{code: timeoutExitCode, err: fmt.Errorf("not ready after %s: %w", c.wait, err)}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ctx.Err(), err)
		case <-time.After(min(c.interval, left)):
		}
	}
}

// check runs the three checks once; it returns what proves the manager runs.
func (c *checkAPIOptions) check(ctx context.Context) (string, error) {
	cs, err := c.clientset()
	if err != nil {
		return "", err
	}
	if err := servesCRDs(cs); err != nil {
		return "", err
	}
	if err := c.dryRunCreate(ctx); err != nil {
		return "", err
	}
	return c.leaseHeld(ctx, cs)
}

// servesCRDs checks that discovery lists both resources of tokenator.dev.
func servesCRDs(cs kubernetes.Interface) error {
	gv := tokenatorv1.GroupVersion.String()
	list, err := cs.Discovery().ServerResourcesForGroupVersion(gv)
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("the API server does not serve %s: the CRDs are not installed (config/crd, or the chart's crds/)", gv)
	}
	if err != nil {
		return fmt.Errorf("discovering %s: %w", gv, err)
	}
	var served []string
	for _, r := range list.APIResources {
		served = append(served, r.Name)
	}
	for _, want := range []string{clientsGVR.Resource, providersGVR.Resource} {
		if !slices.Contains(served, want) {
			return fmt.Errorf("the API server does not serve %s.%s: its CRD is not installed", want, tokenatorv1.GroupVersion.Group)
		}
	}
	return nil
}

// dryRunCreate asks the API server to create an OAuthClient without storing it.
func (c *checkAPIOptions) dryRunCreate(ctx context.Context) error {
	ns, err := c.namespace()
	if err != nil {
		return err
	}
	dc, err := c.dynamicClient()
	if err != nil {
		return err
	}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": tokenatorv1.GroupVersion.String(),
		"kind":       "OAuthClient",
		"metadata":   map[string]any{"generateName": "tokenator-check-api-"},
		"spec": map[string]any{
			"tokenURL":             "https://tokenator-check-api.invalid/token",
			"credentialsSecretRef": map[string]any{"name": "tokenator-check-api"},
		},
	}}
	_, err = dc.Resource(clientsGVR).Namespace(ns).Create(ctx, obj, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		return fmt.Errorf("a dry-run create of an OAuthClient in namespace %s was refused: %w", ns, err)
	}
	return nil
}

// leaseHeld checks that a manager holds the leader election Lease and
// renewed it within its duration.
func (c *checkAPIOptions) leaseHeld(ctx context.Context, cs kubernetes.Interface) (string, error) {
	where := c.managerNamespace + "/" + leaseName
	lease, err := cs.CoordinationV1().Leases(c.managerNamespace).Get(ctx, leaseName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", fmt.Errorf("no manager runs: there is no leader election Lease %s (the manager takes it when it starts with "+
			"--leader-elect, as config/default and the chart run it; give its namespace with --manager-namespace)", where)
	}
	if err != nil {
		return "", fmt.Errorf("reading the leader election Lease %s: %w", where, err)
	}
	spec := lease.Spec
	if spec.HolderIdentity == nil || *spec.HolderIdentity == "" {
		return "", fmt.Errorf("no manager runs: no one holds the leader election Lease %s (released when the manager stopped)", where)
	}
	if spec.RenewTime == nil || spec.LeaseDurationSeconds == nil {
		return "", fmt.Errorf("the leader election Lease %s has no renewTime or leaseDurationSeconds", where)
	}
	age := c.now().Sub(spec.RenewTime.Time)
	if limit := time.Duration(*spec.LeaseDurationSeconds) * time.Second; age > limit {
		return "", fmt.Errorf("no manager runs: the leader election Lease %s was last renewed %s ago by %s, longer ago than its duration (%s)",
			where, duration.HumanDuration(age), *spec.HolderIdentity, limit)
	}
	return fmt.Sprintf("manager %s holds the Lease %s (renewed %s ago)", *spec.HolderIdentity, where, duration.HumanDuration(max(age, 0))), nil
}
