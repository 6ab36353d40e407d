package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
)

// The hostile phase (-hostile N): what a tenant writes on the objects the
// manager caches must not grow its memory. N objects of each kind a tenant
// may create in its namespaces, each with hostileAnnotationBytes of
// annotations under the keys the manager reads (within the API server's
// 256 KiB bound on an object's annotations):
//
//   - ServiceAccounts with a huge tokenator.dev/token-audiences opt-in;
//   - Secrets and ConfigMaps whose controller reference names an OAuthClient
//     (an owner anyone who may write the object can forge), labelled
//     managed-by tokenator, with a huge shape hash and render error;
//   - suspended OAuthClients with huge tokenator.dev/refresh-requested-at and
//     other tokenator.dev/ annotations.
//
// The objects are created bare, then annotated while the manager runs. Its
// peak RSS (VmHWM) is read once it is idle with the bare objects (baseline),
// once it has watched them all be annotated (live), and after a restart that
// streams them all, annotated, at once (restart).
//
// Goals: live under hostileGoalMiB more than the baseline, which is what the
// manager keeps of them; restart under hostileRestartGoalMiB more. A restart
// decodes every object whole before the cache transforms keep a small part:
// the garbage of that burst, a few objects per watch in flight at a time, is
// what the GC's headroom (GOGC=100: twice the live heap) adds to the peak.
// It does not stay: the live heap after the restart is the baseline's.
const (
	hostileAnnotationBytes = 240 << 10
	hostileGoalMiB         = 16
	hostileRestartGoalMiB  = 32
	hostileNamespaces      = 4
)

// hostileResult: the hostile phase.
type hostileResult struct {
	PerKind         int     `json:"objects_per_kind"`
	AnnotationKiB   int     `json:"annotation_kib_per_object"`
	BaselineMiB     float64 `json:"rss_mib_baseline"`
	LiveMiB         float64 `json:"rss_mib_live"`
	RestartMiB      float64 `json:"rss_mib_restart"`
	LiveDeltaMiB    float64 `json:"rss_delta_live_mib"`
	RestartDeltaMiB float64 `json:"rss_delta_restart_mib"`
	// RestartAPIRequests: the restarted manager's, until it is quiet.
	RestartAPIRequests map[string]int `json:"restart_api_requests"`
}

// hostilePhase runs the hostile phase with a manager of its own.
func (b *bench) hostilePhase(ctx context.Context) (r *hostileResult, err error) {
	n := b.o.hostile
	r = &hostileResult{PerKind: n, AnnotationKiB: hostileAnnotationBytes >> 10}
	cs := newClientSet("hostile", n, hostileNamespaces)
	if err := createNamespaces(ctx, b.c, cs.namespaces); err != nil {
		return r, err
	}
	say("hostile: creating %d ServiceAccounts, forged-owner Secrets and ConfigMaps, and OAuthClients, without annotations", n)
	if err := createHostile(ctx, b.c, cs); err != nil {
		return r, err
	}
	say("hostile: starting the manager")
	m, err := b.idleManager(ctx, "hostile")
	if err != nil {
		return r, err
	}
	defer func() { m.stop(syscall.SIGTERM) }()
	if r.BaselineMiB, err = peakMiB(m); err != nil {
		return r, err
	}
	say("hostile: annotating each with %d KiB under the keys the manager reads", r.AnnotationKiB)
	if err := annotateHostile(ctx, b.c, cs); err != nil {
		return r, err
	}
	if err := b.quiet(ctx, m); err != nil {
		return r, err
	}
	if r.LiveMiB, err = peakMiB(m); err != nil {
		return r, err
	}
	m.stop(syscall.SIGTERM)
	say("hostile: restarting the manager with the hostile objects")
	before := b.proxy.snapshot()
	if m, err = b.idleManager(ctx, "hostile-restart"); err != nil {
		return r, err
	}
	r.RestartAPIRequests = b.proxy.snapshot().sub(before).byVerbResource(managerAgent)
	if r.RestartMiB, err = peakMiB(m); err != nil {
		return r, err
	}
	r.LiveDeltaMiB = round3(r.LiveMiB - r.BaselineMiB)
	r.RestartDeltaMiB = round3(r.RestartMiB - r.BaselineMiB)
	say("hostile: peak RSS %.1f MiB without, %.1f MiB having watched them arrive (+%.1f), %.1f MiB after a restart (+%.1f)",
		r.BaselineMiB, r.LiveMiB, r.LiveDeltaMiB, r.RestartMiB, r.RestartDeltaMiB)
	return r, nil
}

// idleManager starts a manager, and returns it once it has started its
// workers and is quiet (see quiet).
func (b *bench) idleManager(ctx context.Context, name string) (*managerProc, error) {
	m, err := startManager(b.managerOptions(name, false))
	if err != nil {
		return nil, err
	}
	b.mgr = m
	if _, err := m.waitWorkers(ctx, 2*time.Minute); err != nil {
		m.stop(syscall.SIGTERM)
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := b.quiet(ctx, m); err != nil {
		m.stop(syscall.SIGTERM)
		return nil, err
	}
	return m, nil
}

// quiet waits until the manager has sent no request for 3s, then -hold.
func (b *bench) quiet(ctx context.Context, m *managerProc) error {
	if err := b.settle(ctx, 3*time.Second, 2*time.Minute); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-m.done:
		return fmt.Errorf("the manager exited: %v (see %s)", m.exitErr, m.logs.path())
	case <-time.After(b.o.hold):
		return nil
	}
}

func peakMiB(m *managerProc) (float64, error) {
	mem, err := m.memory()
	return mib(mem.HWM), err
}

// hostileObjects are the i-th objects of each hostile kind, without their
// annotations, and the annotation keys the manager reads of each.
func hostileObjects(cs clientSet, i int) ([]client.Object, [][]string) {
	// A controller reference to an OAuthClient of the phase, with a UID of
	// none: a forged owner.
	forged := func() metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: fmt.Sprintf("forged-%05d", i), Namespace: cs.namespace(i),
			Labels: map[string]string{tokenatorv1.LabelManagedBy: tokenatorv1.ManagedByValue},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: tokenatorv1.GroupVersion.String(), Kind: "OAuthClient",
				Name: cs.name(i), UID: types.UID(fmt.Sprintf("00000000-0000-0000-0000-%012d", i)), Controller: ptrTo(true)}}}
	}
	derived := []string{tokenatorv1.AnnotationShapeHash, tokenatorv1.AnnotationRenderError}
	return []client.Object{
			&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("opt-in-%05d", i), Namespace: cs.namespace(i)}},
			&corev1.Secret{ObjectMeta: forged(), Data: map[string][]byte{"k": []byte("v")}},
			&corev1.ConfigMap{ObjectMeta: forged(), Data: map[string]string{"k": "v"}},
			&tokenatorv1.OAuthClient{
				ObjectMeta: metav1.ObjectMeta{Name: cs.name(i), Namespace: cs.namespace(i), Labels: map[string]string{phaseLabel: cs.phase}},
				Spec: tokenatorv1.OAuthClientSpec{
					OAuthEndpoint:        tokenatorv1.OAuthEndpoint{Provider: tokenatorv1.ProviderLucca},
					CredentialsSecretRef: &tokenatorv1.CredentialsSecretReference{Name: cs.name(i) + "-credentials"},
					Suspend:              true,
				},
			},
		}, [][]string{
			{tokenatorv1.AnnotationTokenAudiences}, derived, derived,
			{tokenatorv1.AnnotationRefreshRequestedAt, "tokenator.dev/refresh-requested-at-too", "tokenator.dev/anything"},
		}
}

// createHostile creates cs.n objects of each hostile kind in cs's
// namespaces, without their annotations.
func createHostile(ctx context.Context, c client.Client, cs clientSet) error {
	return parallel(ctx, cs.n, 4, func(ctx context.Context, i int) error {
		objs, _ := hostileObjects(cs, i)
		for _, o := range objs {
			if err := c.Create(ctx, o); err != nil {
				return fmt.Errorf("hostile: creating %T %s: %w", o, o.GetName(), err)
			}
		}
		return nil
	})
}

// annotateHostile adds to each object of createHostile
// hostileAnnotationBytes of annotations under the keys the manager reads.
func annotateHostile(ctx context.Context, c client.Client, cs clientSet) error {
	return parallel(ctx, cs.n, 4, func(ctx context.Context, i int) error {
		objs, keys := hostileObjects(cs, i)
		for j, o := range objs {
			a := map[string]string{}
			for _, k := range keys[j] {
				a[k] = strings.Repeat("x", hostileAnnotationBytes/len(keys[j]))
			}
			patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": a}})
			if err != nil {
				return err
			}
			if err := c.Patch(ctx, o, client.RawPatch(types.MergePatchType, patch)); err != nil {
				return fmt.Errorf("hostile: annotating %T %s: %w", o, o.GetName(), err)
			}
		}
		return nil
	})
}

func ptrTo[T any](v T) *T { return &v }

// finishHostile sets the hostile phase's goal, which the run misses when
// the phase did not complete; a missed goal is a failure (exit 1).
func (r *results) finishHostile(runErr error) {
	r.Seconds = round3(time.Since(benchStart).Seconds())
	r.Machine.LoadEnd = loadavg()
	if runErr != nil {
		r.Error = runErr.Error()
	}
	h := r.Hostile
	if h == nil {
		return
	}
	for _, g := range []struct {
		name        string
		delta, goal float64
	}{
		{"live", h.LiveDeltaMiB, hostileGoalMiB},
		{"restart", h.RestartDeltaMiB, hostileRestartGoalMiB},
	} {
		met := runErr == nil && g.delta < g.goal
		r.Goals = append(r.Goals, goal{fmt.Sprintf("hostile: peak RSS growth, %s, with %d hostile objects of each kind", g.name, h.PerKind),
			fmt.Sprintf("%.1f", g.delta), fmt.Sprintf("< %.0f", g.goal), met})
		if runErr == nil && !met {
			r.Failures = append(r.Failures, fmt.Sprintf("hostile: peak RSS grew by %.1f MiB (%s), goal < %.0f", g.delta, g.name, g.goal))
		}
	}
}

// print prints the phase's lines of the table, its goal and the notes.
func (h *hostileResult) print(r *results, w io.Writer, tw *tabwriter.Writer, p func(format string, args ...any)) {
	p("\ntokenator bench, hostile phase\t%d of each kind: ServiceAccounts, forged-owner Secrets and ConfigMaps, OAuthClients; %d KiB of annotations each\t",
		h.PerKind, h.AnnotationKiB)
	r.printMachine(p)
	p("rss_mib_baseline (peak, idle)\t%.1f\t", h.BaselineMiB)
	p("rss_mib_live (peak, having watched them arrive)\t%.1f\t+%.1f", h.LiveMiB, h.LiveDeltaMiB)
	p("rss_mib_restart (peak, restarted with them)\t%.1f\t+%.1f", h.RestartMiB, h.RestartDeltaMiB)
	r.printGoals(p, tw)
	printRequests(w, "manager API requests, restart with the hostile objects", h.RestartAPIRequests)
	r.printNotes(w)
}
