package testutil

import (
	"strings"
	"testing"
)

func TestCheckMermaid(t *testing.T) {
	tests := []struct {
		name, text, wantErr string
	}{
		{"flowchart", "flowchart LR\n  A[start] --> B{\"ok?\"}\n  B -->|yes| C((done))\n  subgraph S[\"a group\"]\n    D\n  end\n  classDef hot fill:#f96\n", ""},
		{"sequence", "sequenceDiagram\n  participant T as tokenator\n  participant I as IdP\n  T->>I: POST /token (form)\n  alt ok\n    I-->>T: access_token\n  else refused\n    I-->>T: 401 invalid_client\n  end\n  Note over T,I: over TLS\n", ""},
		{"state", "stateDiagram-v2\n  [*] --> Issued\n  state \"Failing\" as F\n  Issued --> F : request fails\n  F --> Issued : succeeds\n  note right of F : backoff\n  Issued --> [*]\n", ""},
		{"unknown type", "pie\n  \"a\" : 1\n", "not one the docs use"},
		{"no direction", "flowchart\n  A --> B\n", "wants a direction"},
		{"bare parenthesis in a label", "flowchart LR\n  A[start (now)] --> B\n", "put the label in double quotes"},
		{"unclosed subgraph", "flowchart TD\n  subgraph S\n  A --> B\n", "not closed"},
		{"extra end", "sequenceDiagram\n  A->>B: hi\n  end\n", "not open"},
		{"semicolon in a message", "sequenceDiagram\n  A->>B: one; two\n", "semicolon"},
		{"not a statement", "sequenceDiagram\n  A to B\n", "not a participant"},
		{"broken link", "flowchart LR\n  A -> B\n", "a link"},
		{"state with a bad arrow", "stateDiagram-v2\n  A -> B\n", "not a transition"},
		{"empty", "\n%% nothing\n", "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckMermaid(tt.text)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}
