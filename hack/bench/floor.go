package main

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/oauth"
	"github.com/tokenator-dev/tokenator/internal/schedule"
	"github.com/tokenator-dev/tokenator/operator"
)

// floorAgent is the User-Agent of the floor loop's API requests.
const floorAgent = "tokenator-bench-floor"

// floorPhase: the same work as the cold phase, done by a bare client-go loop.
func (b *bench) floorPhase(ctx context.Context, floor clientSet) error {
	o := b.o
	say("floor: creating %d namespaces (no manager running)", o.namespaces)
	if err := createNamespaces(ctx, b.c, floor.namespaces); err != nil {
		return err
	}
	say("floor: creating %d OAuthClients; for each, as it is created: token request + Secret create + status update, %d workers, QPS %g burst %d",
		o.n, o.concurrency, o.qps, o.burst)
	before, tokensBefore := b.proxy.snapshot(), b.idp.Requests()
	prof, err := b.startProfiles(ctx, "floor", "")
	if err != nil {
		return err
	}
	start, d, err := b.floorMeasure(ctx, floor)
	if err != nil {
		return err
	}
	if err := prof.stop(""); err != nil {
		return err
	}
	b.res.FloorRates = b.proxy.rates(floorAgent, start, time.Now())
	diff := b.proxy.snapshot().sub(before)
	b.res.FloorSeconds = round3(d.Seconds())
	b.res.FloorTokenRequests = b.idp.Requests() - tokensBefore
	b.res.FloorAPIRequests = diff.byVerbResource(floorAgent)
	if b.res.FloorTokenRequests > 0 {
		b.res.FloorRequestsPerToken = round3(float64(diff.requests(floorAgent)) / float64(b.res.FloorTokenRequests))
	}
	say("floor: %.2fs", d.Seconds())
	return b.floorCleanup(ctx, floor)
}

// floorMeasure creates the floor's OAuthClients as the cold phase does and
// hands them to the floor's workers as they are created: the same load on the
// API server, in the same clock. It returns when it started and how long the
// workers took.
func (b *bench) floorMeasure(ctx context.Context, floor clientSet) (time.Time, time.Duration, error) {
	o := b.o
	creds := make(map[string][2]string, o.n)
	for i := range o.n {
		creds[floor.namespace(i)+"/"+floor.name(i)] = [2]string{floor.clientID(i), floor.secretOf(i)}
	}
	created := make(chan *tokenatorv1.OAuthClient, o.n)
	start := time.Now()
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
		b.res.FloorCreateSeconds = round3(time.Since(start).Seconds())
		close(created)
		createErr <- err
	}()
	err := runFloor(ctx, b.viaProxy, created, creds, b.idp.CAPEM(), b.idp.URL(), o.concurrency, o.qps, o.burst)
	d := time.Since(start)
	if cerr := <-createErr; cerr != nil {
		return start, d, fmt.Errorf("floor: creating OAuthClients: %w", cerr)
	}
	return start, d, err
}

// floorCleanup deletes the floor's objects: the manager must never see them.
func (b *bench) floorCleanup(ctx context.Context, floor clientSet) error {
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

// runFloor does, for every OAuthClient received from created (as the bench
// creates them, the way the manager sees them through its watch), the least an
// operator must do to issue its token: one token request, one Secret create and
// one status update, with concurrency workers; it returns when created is
// closed and drained. Like the manager, it talks to the
// API server through the counting proxy, and its clients have the manager's QPS
// and burst: one rate limiter for Secrets (a client-go clientset) and one for
// OAuthClients (a REST client), as controller-runtime gives the manager one
// limiter per resource type.
func runFloor(ctx context.Context, base *rest.Config, created <-chan *tokenatorv1.OAuthClient, creds map[string][2]string,
	caPEM []byte, tokenURL string, concurrency int, qps float64, burst int) error {
	cfg := rest.CopyConfig(base)
	cfg.UserAgent = floorAgent
	cfg.QPS, cfg.Burst = float32(qps), burst
	if qps <= 0 {
		cfg.QPS, cfg.Burst = -1, 0 // no client-side limit, as the manager by default
	}
	secrets, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ocCfg := rest.CopyConfig(cfg)
	ocCfg.GroupVersion = &tokenatorv1.GroupVersion
	ocCfg.APIPath = "/apis"
	ocCfg.ContentType = "application/json"
	ocCfg.NegotiatedSerializer = serializer.NewCodecFactory(operator.NewScheme()).WithoutConversion()
	ocREST, err := rest.RESTClientFor(ocCfg)
	if err != nil {
		return err
	}
	httpClient, err := oauth.NewHTTPClient(oauth.HTTPOptions{CABundle: caPEM})
	if err != nil {
		return err
	}
	tc := &oauth.Client{HTTPClient: httpClient}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, concurrency)
	for range concurrency {
		go func() {
			var err error
			for oc := range created {
				if err == nil {
					if err = floorIssue(ctx, secrets, ocREST, tc, tokenURL, oc, creds[oc.Namespace+"/"+oc.Name]); err != nil {
						cancel()
					}
				}
			}
			errs <- err
		}()
	}
	var first error
	for range concurrency {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// floorIssue issues oc's token: a token request, a Secret create, a status update.
func floorIssue(ctx context.Context, secrets kubernetes.Interface, ocREST rest.Interface, tc *oauth.Client, tokenURL string,
	oc *tokenatorv1.OAuthClient, cred [2]string) error {
	{
		tok, err := tc.RequestToken(ctx, oauth.Request{
			TokenURL:        tokenURL,
			Encoding:        oauth.EncodingForm,
			ClientAuth:      oauth.ClientAuthPost,
			ClientID:        cred[0],
			ClientSecret:    cred[1],
			Scopes:          oc.Spec.Scopes,
			DefaultLifetime: time.Hour,
		})
		if err != nil {
			return fmt.Errorf("floor: token request: %w", err)
		}
		expires := tok.ExpiresAt.UTC().Truncate(time.Second)
		issued := tok.IssuedAt.Truncate(time.Second)
		secret := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{
				Name:      oc.Name + "-token",
				Namespace: oc.Namespace,
				Labels:    map[string]string{tokenatorv1.LabelManagedBy: tokenatorv1.ManagedByValue},
				OwnerReferences: []metav1.OwnerReference{{
					APIVersion: tokenatorv1.GroupVersion.String(), Kind: "OAuthClient", Name: oc.Name, UID: oc.UID,
					Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
				}},
			},
			Type: corev1.SecretTypeOpaque,
			Data: map[string][]byte{
				tokenatorv1.SecretKeyAccessToken:   []byte(tok.AccessToken),
				tokenatorv1.SecretKeyTokenType:     []byte(tok.TokenType),
				tokenatorv1.SecretKeyExpiresAt:     []byte(expires.Format(time.RFC3339)),
				tokenatorv1.SecretKeyAuthorization: []byte("Bearer " + tok.AccessToken),
			},
		}
		if _, err := secrets.CoreV1().Secrets(oc.Namespace).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("floor: creating Secret: %w", err)
		}
		oc.Status = tokenatorv1.OAuthClientStatus{
			ObservedGeneration: oc.Generation,
			Conditions: []metav1.Condition{{
				Type: tokenatorv1.ConditionReady, Status: metav1.ConditionTrue, Reason: tokenatorv1.ReasonTokenIssued,
				Message: "token valid until " + expires.Format(time.RFC3339), ObservedGeneration: oc.Generation,
				LastTransitionTime: metav1.Time{Time: time.Now().Truncate(time.Second)},
			}},
			SecretName:      secret.Name,
			TokenType:       tok.TokenType,
			ExpiresAt:       &metav1.Time{Time: expires},
			RefreshAt:       &metav1.Time{Time: schedule.RefreshTime(issued, expires, 0, 5*time.Second, string(oc.UID))},
			LastRefreshTime: &metav1.Time{Time: issued},
		}
		if err := ocREST.Put().Namespace(oc.Namespace).Resource("oauthclients").Name(oc.Name).SubResource("status").
			Body(oc).Do(ctx).Error(); err != nil {
			return fmt.Errorf("floor: updating status: %w", err)
		}
		return nil
	}
}
