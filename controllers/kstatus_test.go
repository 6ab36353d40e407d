package controllers_test

import (
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
)

func kstatus(t *testing.T, oc *tokenatorv1.OAuthClient) status.Status {
	t.Helper()
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(oc)
	if err != nil {
		t.Fatal(err)
	}
	res, err := status.Compute(&unstructured.Unstructured{Object: obj})
	if err != nil {
		t.Fatal(err)
	}
	return res.Status
}

// kstatus, which Flux and kpt judge health with, reads every state right:
// a token is Current, a failure that retries is InProgress, a failure only a
// human can fix is Failed, a spec not yet observed is InProgress.
func TestKstatus(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749})

	e.create(e.oauthClient("ok"))
	ready := e.waitReady("ok")
	e.g.Expect(kstatus(t, ready)).To(Equal(status.CurrentStatus))

	stale := ready.DeepCopy()
	stale.Generation++
	e.g.Expect(kstatus(t, stale)).To(Equal(status.InProgressStatus), "a new generation not yet observed")

	missing := e.oauthClient("missing")
	missing.Spec.CredentialsSecretRef.Name = "nope"
	e.create(missing)
	e.g.Expect(kstatus(t, e.waitReason("missing", tokenatorv1.ReasonCredentialsNotFound))).To(Equal(status.InProgressStatus))

	e.idp.SetFault(oauthtest.Fault{Status: 503})
	e.create(e.oauthClient("failing"))
	e.g.Expect(kstatus(t, e.waitReason("failing", tokenatorv1.ReasonTokenRequestFailed))).To(Equal(status.InProgressStatus))
	e.idp.ClearFault()

	invalid := e.oauthClient("invalid")
	invalid.Spec.Secret.ExtraData = map[string]string{"x": "{{ .Nope }}"}
	e.create(invalid)
	got := e.waitReason("invalid", tokenatorv1.ReasonInvalidSpec)
	e.g.Expect(kstatus(t, got)).To(Equal(status.FailedStatus))

	e.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "taken-token"}})
	e.create(e.oauthClient("taken"))
	e.g.Expect(kstatus(t, e.waitReason("taken", tokenatorv1.ReasonSecretConflict))).To(Equal(status.FailedStatus))

	// Fixed: Stalled goes, and kstatus says Current.
	e.update("invalid", func(oc *tokenatorv1.OAuthClient) { oc.Spec.Secret.ExtraData = nil })
	fixed := e.waitReady("invalid")
	e.g.Expect(kstatus(t, fixed)).To(Equal(status.CurrentStatus))
	e.g.Expect(fixed.Status.Conditions).To(HaveLen(1))
}
