package main

import (
	"bytes"
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/tokenator-dev/tokenator/internal/testutil/kcm"
)

// The demo runs end to end: control plane, endpoint, manager, sample, Ready;
// then, with kube-controller-manager, the OAuthClient deleted and its Secret
// deleted by the garbage collector.
func TestDemo(t *testing.T) {
	gc := kcm.Available()
	if !gc {
		// `make test` and `make demo` need only kube-apiserver and etcd;
		// `make controller-manager` (and `make test-e2e`) build it.
		t.Log("no kube-controller-manager in KUBEBUILDER_ASSETS: the demo runs without the deletion step")
	}
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := run(ctx, options{root: "../..", lifetime: 30 * time.Minute, once: true, gc: gc, out: &out}); err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out.String())
	}
	want := []string{
		`OAuthClient demo/lucca  Ready=True  reason=TokenIssued`,
		`Secret lucca-token \(type Opaque, managed-by=tokenator\)`,
		`access_token +<\d+ bytes>`,
		`authorization +<\d+ bytes>`,
		`expires_at +\d{4}-\d\d-\d\dT`,
		`token_type +Bearer`,
		`refreshAt=\d{4}-`,
		`Stopping the control plane`,
	}
	if !gc {
		want = append(want, "no kube-controller-manager in KUBEBUILDER_ASSETS")
	} else {
		want = append(want,
			`Starting kube-controller-manager`,
			`Deleting the OAuthClient`,
			`the garbage collector deleted its Secret demo/lucca-token`)
	}
	for _, w := range want {
		if !regexp.MustCompile(w).MatchString(out.String()) {
			t.Errorf("demo output lacks %q:\n%s", w, out.String())
		}
	}
}
