package main

import (
	"fmt"
	"io"
	"strings"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
)

// hint is a row of a table of docs/troubleshooting.md, "What the operator
// does next depends on the reason" (of an OAuthClient) or "What the operator
// does next for a ClusterOAuthProvider depends on the reason", in its
// Markdown (a test compares the two).
type hint struct {
	Operator string
	You      string
}

// hintTable is one of the tables: its rows by Ready reason, in the order of
// the page, and the section they link to ("" for the reason's own).
type hintTable struct {
	rows   []hintRow
	anchor string
}

// hintRow is the hint of one reason.
type hintRow struct {
	Reason string
	hint
}

// hints are the next steps of an OAuthClient, by Ready reason.
var hints = hintTable{rows: []hintRow{
	{tokenatorv1.ReasonTokenIssued, hint{"refreshes at `refreshAt`", "nothing"}},
	{tokenatorv1.ReasonCredentialsNotFound, hint{"waits for the Secret or key to appear (watched)", "create or fix the credentials Secret"}},
	{tokenatorv1.ReasonTokenRequestFailed, hint{"retries at `refreshAt`, with backoff", "fix the cause below, or wait for the endpoint; annotate to retry at once"}},
	{tokenatorv1.ReasonSecretConflict, hint{"waits for the Secret to be deleted (watched)", "delete the other Secret or change `spec.secret.name`"}},
	{tokenatorv1.ReasonInvalidSpec, hint{"waits for a change of the spec or of the referenced objects", "fix the spec or the referenced object"}},
	{tokenatorv1.ReasonProviderNotFound, hint{"waits for the ClusterOAuthProvider to be created or fixed (watched)",
		"fix `spec.providerRef.name`, or ask the cluster admin to create or fix the provider"}},
	{tokenatorv1.ReasonProviderRefused, hint{"waits for a change of the provider, of the namespace's labels or of the spec (watched)",
		"request only allowed scopes, or ask the cluster admin to allow the namespace or the scope"}},
	{tokenatorv1.ReasonSuspended, hint{"nothing", "set `spec.suspend: false`"}},
}}

// providerHints are the next steps of a ClusterOAuthProvider, by Ready
// reason; the table is in the section of ProviderNotFound.
var providerHints = hintTable{anchor: "providernotfound", rows: []hintRow{
	{tokenatorv1.ReasonProviderReady, hint{"counts the clients and shared tokens", "nothing"}},
	{tokenatorv1.ReasonCredentialsNotFound, hint{"waits for the Secret or ServiceAccount to appear in the cluster resource namespace (watched)",
		"create the central credentials Secret or the ServiceAccount there"}},
	{tokenatorv1.ReasonInvalidSpec, hint{"waits for a change of the spec or of the referenced objects",
		"fix the spec, or create the CA bundle in the cluster resource namespace"}},
}}

// troubleshootingURL is the page the hints come from; a reason is its anchor.
const troubleshootingURL = "https://github.com/tokenator-dev/tokenator/blob/main/docs/troubleshooting.md"

// hintFor returns the hint of an OAuthClient's Ready reason.
func hintFor(reason string) (operator, you, link string, ok bool) { return hints.lookup(reason) }

// lookup returns the hint of a Ready reason, as plain text, and the link to
// its section; ok is false for a reason the table does not list.
func (t hintTable) lookup(reason string) (operator, you, link string, ok bool) {
	for _, h := range t.rows {
		if h.Reason == reason {
			you := h.You
			// "the cause below" is on the page: in a terminal it is the message.
			you = strings.ReplaceAll(you, "fix the cause below", "fix the cause the message names")
			// "annotate" is what renew does.
			you = strings.ReplaceAll(you, "annotate to retry at once", "`kubectl tokenator renew` retries at once")
			anchor := t.anchor
			if anchor == "" {
				anchor = strings.ToLower(reason)
			}
			return plain(h.Operator), plain(you), troubleshootingURL + "#" + anchor, true
		}
	}
	return "", "", "", false
}

// printHint prints the "What next" of a reason, when the table has it.
func printHint(out io.Writer, t hintTable, reason string) {
	if operator, you, link, ok := t.lookup(reason); ok {
		fmt.Fprintf(out, "\nWhat next (%s):\n  The operator: %s.\n  You: %s.\n  See %s\n", reason, operator, you, link)
	}
}

// plain removes Markdown code marks.
func plain(s string) string { return strings.ReplaceAll(s, "`", "") }
