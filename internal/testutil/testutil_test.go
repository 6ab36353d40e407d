package testutil

import (
	"reflect"
	"testing"
)

func TestFindLeaks(t *testing.T) {
	got := FindLeaks([]string{"s3cret-value", "", "tok-123"}, map[string]string{
		"logs":   `{"msg":"Token issued"} tok-123`,
		"events": "nothing here",
		"status": "message: token request failed: invalid_client s3cret-value",
	})
	want := []string{"logs contains a secret of 7 characters", "status contains a secret of 12 characters"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if leaks := FindLeaks([]string{"absent"}, map[string]string{"logs": "clean"}); leaks != nil {
		t.Fatalf("found %q in clean text", leaks)
	}
}

func TestDecodeObjects(t *testing.T) {
	objs, err := DecodeObjects([]byte("---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: a\n---\n\n---\nkind: ConfigMap\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 || objs[0].GetName() != "a" || objs[1].GetKind() != "ConfigMap" {
		t.Fatalf("decoded %v", objs)
	}
	if _, err := DecodeObjects([]byte("kind: [")); err == nil {
		t.Fatal("bad YAML decoded")
	}
}
