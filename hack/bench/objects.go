package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/operator"
)

// phaseLabel tells which phase of the benchmark created an object.
const phaseLabel = "bench.tokenator.dev/phase"

// parallel runs fn(0..n-1) on workers goroutines and returns the first error.
func parallel(ctx context.Context, n, workers int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for range min(workers, max(n, 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(ctx, i); err != nil {
					once.Do(func() { first = err; cancel() })
				}
			}
		}()
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	return first
}

// clientSet is one group of OAuthClients of the benchmark: names, namespaces
// and client credentials.
type clientSet struct {
	phase      string
	namespaces []string
	n          int
}

func newClientSet(phase string, n, namespaces int) clientSet {
	cs := clientSet{phase: phase, n: n}
	for i := range namespaces {
		cs.namespaces = append(cs.namespaces, fmt.Sprintf("%s-%d", phase, i))
	}
	return cs
}

func (cs clientSet) namespace(i int) string { return cs.namespaces[i%len(cs.namespaces)] }
func (cs clientSet) name(i int) string      { return fmt.Sprintf("client-%05d", i) }
func (cs clientSet) clientID(i int) string  { return fmt.Sprintf("%s-%05d", cs.phase, i) }
func (cs clientSet) secretOf(i int) string  { return fmt.Sprintf("secret-%s-%05d", cs.phase, i) }

// credentials are the clients the token endpoint accepts.
func (cs clientSet) credentials() map[string]string {
	m := make(map[string]string, cs.n)
	for i := range cs.n {
		m[cs.clientID(i)] = cs.secretOf(i)
	}
	return m
}

func (cs clientSet) oauthClient(i int, tokenURL string) *tokenatorv1.OAuthClient {
	return &tokenatorv1.OAuthClient{
		ObjectMeta: metav1.ObjectMeta{Name: cs.name(i), Namespace: cs.namespace(i), Labels: map[string]string{phaseLabel: cs.phase}},
		Spec: tokenatorv1.OAuthClientSpec{
			OAuthEndpoint:        tokenatorv1.OAuthEndpoint{Provider: tokenatorv1.ProviderLucca, TokenURL: tokenURL},
			CredentialsSecretRef: &tokenatorv1.CredentialsSecretReference{Name: cs.name(i) + "-credentials"},
			Scopes:               []string{"lucca.api.read"},
		},
	}
}

func (cs clientSet) credentialsSecret(i int) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: cs.name(i) + "-credentials", Namespace: cs.namespace(i), Labels: map[string]string{phaseLabel: cs.phase}},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{"client_id": []byte(cs.clientID(i)), "client_secret": []byte(cs.secretOf(i))},
	}
}

// createNamespaces creates the namespaces, accepting existing ones.
func createNamespaces(ctx context.Context, c client.Client, names []string) error {
	for _, ns := range names {
		err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating namespace %s: %w", ns, err)
		}
	}
	return nil
}

// createNoiseSecrets creates n unrelated Opaque Secrets of size bytes of random
// data, spread over namespaces.
func createNoiseSecrets(ctx context.Context, c client.Client, n, size int, namespaces []string, workers int) error {
	if err := createNamespaces(ctx, c, namespaces); err != nil {
		return err
	}
	return parallel(ctx, n, workers, func(ctx context.Context, i int) error {
		data := make([]byte, size)
		_, _ = rand.Read(data)
		s := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("unrelated-%05d", i), Namespace: namespaces[i%len(namespaces)]},
			Type:       corev1.SecretTypeOpaque,
			Data:       map[string][]byte{"blob": data},
		}
		return c.Create(ctx, s)
	})
}

// createLabelledSecrets creates n Secrets of size bytes that carry tokenator's
// managed-by label but no OAuthClient ownerReference: what a tenant who wants
// to fill the manager's Secret cache would create.
func createLabelledSecrets(ctx context.Context, c client.Client, n, size int, namespaces []string, workers int) error {
	return parallel(ctx, n, workers, func(ctx context.Context, i int) error {
		data := make([]byte, size)
		_, _ = rand.Read(data)
		s := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("labelled-%05d", i), Namespace: namespaces[i%len(namespaces)],
				Labels: map[string]string{tokenatorv1.LabelManagedBy: tokenatorv1.ManagedByValue}},
			Type: corev1.SecretTypeOpaque,
			Data: map[string][]byte{"blob": data},
		}
		return c.Create(ctx, s)
	})
}

// readyTracker follows, through a watch of the bench's own, when each OAuthClient
// of a phase first reports Ready=True with reason TokenIssued.
type readyTracker struct {
	mu      sync.Mutex
	firstAt map[string]time.Time
	want    int
	all     chan struct{}
	allAt   time.Time
}

func isReady(oc *tokenatorv1.OAuthClient) bool {
	c := meta.FindStatusCondition(oc.Status.Conditions, tokenatorv1.ConditionReady)
	return c != nil && c.Status == metav1.ConditionTrue && c.Reason == tokenatorv1.ReasonTokenIssued
}

func (t *readyTracker) observe(obj any) {
	oc, ok := obj.(*tokenatorv1.OAuthClient)
	if !ok || !isReady(oc) {
		return
	}
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	key := oc.Namespace + "/" + oc.Name
	if _, seen := t.firstAt[key]; seen {
		return
	}
	t.firstAt[key] = now
	if len(t.firstAt) == t.want {
		t.allAt = now
		close(t.all)
	}
}

// trackReady starts an informer on the OAuthClients labelled with phase and
// returns the tracker once the informer has synced.
func trackReady(ctx context.Context, informers cache.Cache, want int) (*readyTracker, error) {
	t := &readyTracker{firstAt: map[string]time.Time{}, want: want, all: make(chan struct{})}
	inf, err := informers.GetInformer(ctx, &tokenatorv1.OAuthClient{})
	if err != nil {
		return nil, err
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { t.observe(obj) },
		UpdateFunc: func(_, obj any) { t.observe(obj) },
	}); err != nil {
		return nil, err
	}
	if !informers.WaitForCacheSync(ctx) {
		return nil, fmt.Errorf("the bench's OAuthClient informer did not sync")
	}
	return t, nil
}

// trackPhase starts the bench's informers on the OAuthClients of phase and
// tracks when want of them are Ready.
func (b *bench) trackPhase(ctx context.Context, phase string, want int) (*readyTracker, error) {
	informers, err := cache.New(b.admin, cache.Options{
		Scheme:   operator.NewScheme(),
		ByObject: map[client.Object]cache.ByObject{&tokenatorv1.OAuthClient{}: {Label: phaseSelector(phase)}},
	})
	if err != nil {
		return nil, err
	}
	go func() { _ = informers.Start(ctx) }()
	return trackReady(ctx, informers, want)
}

func phaseSelector(phase string) labels.Selector {
	return labels.SelectorFromSet(labels.Set{phaseLabel: phase})
}

// wait waits until every OAuthClient is Ready, or ctx ends.
func (t *readyTracker) wait(ctx context.Context, timeout time.Duration) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	select {
	case <-t.all:
		return t.allAt, nil
	case <-ctx.Done():
		t.mu.Lock()
		n := len(t.firstAt)
		t.mu.Unlock()
		return time.Time{}, fmt.Errorf("%d of %d OAuthClients Ready after %s", n, t.want, timeout)
	}
}

// quantiles returns the times, relative to start, at which the given shares
// of the OAuthClients were Ready.
func (t *readyTracker) quantiles(start time.Time, shares ...float64) []float64 {
	t.mu.Lock()
	ds := make([]float64, 0, len(t.firstAt))
	for _, at := range t.firstAt {
		ds = append(ds, at.Sub(start).Seconds())
	}
	t.mu.Unlock()
	sort.Float64s(ds)
	out := make([]float64, len(shares))
	if len(ds) == 0 {
		return out
	}
	for i, s := range shares {
		k := int(float64(len(ds))*s+0.999999) - 1
		k = min(max(k, 0), len(ds)-1)
		out[i] = round3(ds[k])
	}
	return out
}

// peakShare returns the largest share of times that fall in one second, and the
// number of distinct seconds.
func peakShare(times []time.Time) (share float64, peak, seconds int) {
	per := map[int64]int{}
	for _, t := range times {
		per[t.Unix()]++
	}
	for _, c := range per {
		peak = max(peak, c)
	}
	if len(times) == 0 {
		return 0, 0, 0
	}
	return float64(peak) / float64(len(times)), peak, len(per)
}

func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }
