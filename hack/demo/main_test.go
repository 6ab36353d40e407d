package main

import (
	"bytes"
	"context"
	"regexp"
	"testing"
	"time"
)

// The demo runs end to end: control plane, endpoint, manager, sample, Ready.
func TestDemo(t *testing.T) {
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := run(ctx, options{root: "../..", lifetime: 30 * time.Minute, once: true, out: &out}); err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		`OAuthClient demo/lucca  Ready=True  reason=TokenIssued`,
		`Secret lucca-token \(type Opaque, managed-by=tokenator\)`,
		`access_token +<\d+ bytes>`,
		`authorization +<\d+ bytes>`,
		`expires_at +\d{4}-\d\d-\d\dT`,
		`token_type +Bearer`,
		`refreshAt=\d{4}-`,
		`Stopping the control plane`,
	} {
		if !regexp.MustCompile(want).MatchString(out.String()) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
}
