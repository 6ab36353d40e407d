package testutil

import (
	"reflect"
	"testing"
)

func TestMarkdownBlocks(t *testing.T) {
	md := "# Page\n\n<!-- not applied: a values file -->\n```yaml\na: 1\n```\n\ntext\n\n```sh\nls\n```\n\n- item:\n\n  ```yaml\n  kind: X\n  ---\n  kind: Y\n  ```\n"
	got, err := MarkdownBlocks(md)
	if err != nil {
		t.Fatal(err)
	}
	want := []Block{
		{Lang: "yaml", Text: "a: 1", Line: 4, Marker: "not applied: a values file"},
		{Lang: "sh", Text: "ls", Line: 10},
		{Lang: "yaml", Text: "kind: X\n---\nkind: Y", Line: 16},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if docs := YAMLDocuments(got[2].Text); !reflect.DeepEqual(docs, []string{"kind: X", "kind: Y"}) {
		t.Errorf("YAMLDocuments: %q", docs)
	}
	if _, err := MarkdownBlocks("```yaml\na: 1\n"); err == nil {
		t.Error("an unclosed block is not reported")
	}
}
