package main

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/operator"
)

// sharedProviders is the number of ClusterOAuthProviders of the shared phase.
const sharedProviders = 10

// sharedResult is what the shared-token phase measures: N OAuthClients over
// sharedProviders ClusterOAuthProviders with central credentials, the same
// scopes for all, so that each provider's clients share one token.
type sharedResult struct {
	Clients       int     `json:"clients"`
	Providers     int     `json:"providers"`
	TokenRequests int     `json:"token_requests"`
	Seconds       float64 `json:"seconds"`
	Writes        int     `json:"api_writes"`
}

// sharedClients are the OAuthClients of the shared phase.
func sharedClients(o options) clientSet { return newClientSet("shared", o.n, o.namespaces) }

// sharedPhase starts a manager, creates sharedProviders ClusterOAuthProviders
// whose central credentials are in the manager's cluster resource namespace
// (tokenator-system: the bench's manager has no namespace of its own), then N
// OAuthClients that refer to them, spread over the bench's namespaces, and
// waits until all are Ready. Token requests: one per provider.
func (b *bench) sharedPhase(ctx context.Context, centralID, centralSecret string) (*sharedResult, error) {
	o := b.o
	cs := sharedClients(o)
	r := &sharedResult{Clients: o.n, Providers: sharedProviders}
	if err := b.sharedSetup(ctx, cs, centralID, centralSecret); err != nil {
		return r, err
	}
	tracker, err := b.trackPhase(ctx, cs.phase, o.n)
	if err != nil {
		return r, err
	}
	m, stop, err := b.phaseManager("shared", false)
	if err != nil {
		return r, err
	}
	defer stop()
	if _, err := m.waitWorkers(ctx, 2*time.Minute); err != nil {
		return r, fmt.Errorf("shared: %w", err)
	}
	return r, b.sharedMeasure(ctx, cs, tracker, r)
}

// sharedSetup creates the namespaces of cs, labelled so that the providers
// allow them, the central credentials and the providers.
func (b *bench) sharedSetup(ctx context.Context, cs clientSet, centralID, centralSecret string) error {
	crn := operator.ManagerNamespace()
	say("shared: %d OAuthClients over %d ClusterOAuthProviders with central credentials in %s", b.o.n, sharedProviders, crn)
	if err := createNamespaces(ctx, b.c, append([]string{crn}, cs.namespaces...)); err != nil {
		return err
	}
	for _, ns := range cs.namespaces {
		n := &corev1.Namespace{}
		if err := b.c.Get(ctx, client.ObjectKey{Name: ns}, n); err != nil {
			return err
		}
		if n.Labels == nil {
			n.Labels = map[string]string{}
		}
		n.Labels[phaseLabel] = cs.phase
		if err := b.c.Update(ctx, n); err != nil {
			return fmt.Errorf("shared: labelling namespace %s: %w", ns, err)
		}
	}
	central := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "bench-central", Namespace: crn},
		Data: map[string][]byte{"client_id": []byte(centralID), "client_secret": []byte(centralSecret)}}
	if err := b.c.Create(ctx, central); err != nil {
		return fmt.Errorf("shared: creating the central credentials: %w", err)
	}
	for i := range sharedProviders {
		p := &tokenatorv1.ClusterOAuthProvider{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bench-shared-%d", i)},
			Spec: tokenatorv1.ClusterOAuthProviderSpec{
				OAuthEndpoint:        tokenatorv1.OAuthEndpoint{Provider: tokenatorv1.ProviderLucca, TokenURL: b.idp.URL()},
				CredentialsSecretRef: &tokenatorv1.CredentialsSecretReference{Name: central.Name},
				AllowedNamespaces:    &metav1.LabelSelector{MatchLabels: map[string]string{phaseLabel: cs.phase}},
			},
		}
		if err := b.c.Create(ctx, p); err != nil {
			return fmt.Errorf("shared: creating ClusterOAuthProvider %s: %w", p.Name, err)
		}
	}
	return nil
}

// sharedMeasure creates the OAuthClients of cs, waits until all are Ready
// and the manager is quiet, and records the token requests and writes.
func (b *bench) sharedMeasure(ctx context.Context, cs clientSet, tracker *readyTracker, r *sharedResult) error {
	o := b.o
	before, tokensBefore := b.proxy.snapshot(), b.idp.Requests()
	t0 := time.Now()
	if err := parallel(ctx, o.n, 16, func(ctx context.Context, i int) error {
		oc := &tokenatorv1.OAuthClient{
			ObjectMeta: metav1.ObjectMeta{Name: cs.name(i), Namespace: cs.namespace(i), Labels: map[string]string{phaseLabel: cs.phase}},
			Spec: tokenatorv1.OAuthClientSpec{
				ProviderRef: &tokenatorv1.ProviderReference{Name: fmt.Sprintf("bench-shared-%d", i%sharedProviders)},
				Scopes:      []string{"lucca.api.read"},
			},
		}
		return b.c.Create(ctx, oc)
	}); err != nil {
		return fmt.Errorf("shared: creating OAuthClients: %w", err)
	}
	allAt, err := tracker.wait(ctx, time.Minute+time.Duration(o.n)*150*time.Millisecond)
	r.TokenRequests = b.idp.Requests() - tokensBefore
	if err != nil {
		return fmt.Errorf("shared: %w", err)
	}
	r.Seconds = round3(allAt.Sub(t0).Seconds())
	if err := b.settle(ctx, 3*time.Second, 2*time.Minute+time.Duration(o.n)*60*time.Millisecond); err != nil {
		return err
	}
	r.TokenRequests = b.idp.Requests() - tokensBefore
	r.Writes = b.proxy.snapshot().sub(before).writes(managerAgent)
	say("shared: all %d Ready after %.2fs with %d token requests (%d providers)", o.n, r.Seconds, r.TokenRequests, sharedProviders)
	if r.TokenRequests != sharedProviders {
		b.res.Failures = append(b.res.Failures, fmt.Sprintf("shared token_requests %d != providers %d", r.TokenRequests, sharedProviders))
	}
	return nil
}

// row prints the phase's line of the table, when the phase ran.
func (s *sharedResult) row(p func(format string, args ...any)) {
	if s == nil {
		return
	}
	p("shared token_requests (%d OAuthClients)\t%d\t= %d providers (all Ready after %.2fs; writes %d)",
		s.Clients, s.TokenRequests, s.Providers, s.Seconds, s.Writes)
}
