package controllers_test

import (
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"
	lua "github.com/yuin/gopher-lua"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
)

// toLua converts a JSON-like value into a Lua value, as Argo CD does with the
// objects it hands to health checks.
func toLua(L *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case map[string]any:
		t := L.NewTable()
		for k, e := range v {
			t.RawSetString(k, toLua(L, e))
		}
		return t
	case []any:
		t := L.NewTable()
		for _, e := range v {
			t.Append(toLua(L, e))
		}
		return t
	case string:
		return lua.LString(v)
	case bool:
		return lua.LBool(v)
	case int64:
		return lua.LNumber(v)
	case float64:
		return lua.LNumber(v)
	case nil:
		return lua.LNil
	}
	panic("unexpected type")
}

// argoHealth runs config/argocd/health.lua on oc and returns status and message.
func argoHealth(t *testing.T, script string, oc *tokenatorv1.OAuthClient) (string, string) {
	t.Helper()
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(oc)
	if err != nil {
		t.Fatal(err)
	}
	L := lua.NewState()
	defer L.Close()
	L.SetGlobal("obj", toLua(L, obj))
	if err := L.DoString(script); err != nil {
		t.Fatalf("health.lua: %v", err)
	}
	hs := L.Get(-1).(*lua.LTable)
	return hs.RawGetString("status").String(), hs.RawGetString("message").String()
}

// The Argo CD health check of config/argocd (shown in docs/operations.md, which
// test/docs checks), run by a Lua interpreter like Argo
// CD's on every status shape the operator produces.
func TestArgoCDHealthCheck(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join("..", "config", "argocd", "health.lua"))
	if err != nil {
		t.Fatal(err)
	}
	script := string(raw)

	statusOf := func(oc *tokenatorv1.OAuthClient) string {
		status, _ := argoHealth(t, script, oc)
		return status
	}
	e := newEnv(t, oauthtest.Config{Kind: oauthtest.RFC6749})
	e.g.Expect(statusOf(e.oauthClient("fresh"))).To(Equal("Progressing"))

	e.create(e.oauthClient("ok"))
	ready := e.waitReady("ok")
	status, msg := argoHealth(t, script, ready)
	e.g.Expect(status).To(Equal("Healthy"))
	e.g.Expect(msg).To(HavePrefix("token valid until"))

	stale := ready.DeepCopy()
	stale.Generation++
	e.g.Expect(statusOf(stale)).To(Equal("Progressing"))

	e.update("ok", func(oc *tokenatorv1.OAuthClient) { oc.Spec.Suspend = true })
	e.g.Expect(statusOf(e.waitReason("ok", tokenatorv1.ReasonSuspended))).To(Equal("Suspended"))

	e.idp.SetFault(oauthtest.Fault{Status: 401, Body: `{"error":"invalid_client"}`})
	e.create(e.oauthClient("failing"))
	status, msg = argoHealth(t, script, e.waitReason("failing", tokenatorv1.ReasonTokenRequestFailed))
	e.g.Expect(status).To(Equal("Degraded"))
	e.g.Expect(msg).To(ContainSubstring("invalid_client"))
	e.idp.ClearFault()

	e.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "taken-token"}})
	e.create(e.oauthClient("taken"))
	status, msg = argoHealth(t, script, e.waitReason("taken", tokenatorv1.ReasonSecretConflict))
	e.g.Expect(status).To(Equal("Degraded"))
	e.g.Expect(msg).To(ContainSubstring("not controlled by this OAuthClient"))
}
