package chart_test

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestPodTemplatePassesRestrictedPodSecurity creates (dry run) the manager's pod
// template as a Pod in a namespace that enforces the restricted Pod Security
// Standard: the API server's PodSecurity admission accepts it. A pod without the
// security context is refused there, which shows that the check is enforced.
func TestPodTemplatePassesRestrictedPodSecurity(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const ns = "restricted"
	ensureNamespace(t, ns, map[string]string{
		"pod-security.kubernetes.io/enforce":         "restricted",
		"pod-security.kubernetes.io/enforce-version": "latest",
	})
	// The Priority admission plugin wants the PriorityClass of the custom values.
	pc := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "tokenator-critical"}, Value: 1000000}
	if err := k8s.Create(ctx, pc); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}

	for _, tc := range chartCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := NewWithT(t)
			var d appsv1.Deployment
			typed(g, rendered(render(t, tc.namespace, tc.values)).one(g, "Deployment"), &d)
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{
					GenerateName: "tokenator-",
					Namespace:    ns,
					Labels:       d.Spec.Template.Labels,
					Annotations:  d.Spec.Template.Annotations,
				},
				Spec: d.Spec.Template.Spec,
			}
			g.Expect(k8s.Create(ctx, pod, client.DryRunAll)).To(Succeed(),
				"the pod template of %q must pass the restricted Pod Security Standard", tc.name)
		})
	}

	t.Run("a pod without the security context is refused", func(t *testing.T) {
		t.Parallel()
		g := NewWithT(t)
		var d appsv1.Deployment
		typed(g, rendered(render(t, "tokenator-system", nil)).one(g, "Deployment"), &d)
		spec := d.Spec.Template.Spec
		spec.SecurityContext = nil
		spec.Containers[0].SecurityContext = nil
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "unrestricted-", Namespace: ns}, Spec: spec}
		err := k8s.Create(ctx, pod, client.DryRunAll)
		g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "want Forbidden by PodSecurity, got %v", err)
		g.Expect(err.Error()).To(ContainSubstring(`violates PodSecurity "restricted:latest"`))
	})
}
