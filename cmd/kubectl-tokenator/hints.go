package main

import (
	"strings"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
)

// hint is a row of the table "What the operator does next depends on the
// reason" of docs/troubleshooting.md, in its Markdown (a test compares the two).
type hint struct {
	Operator string
	You      string
}

// hints by Ready reason, in the order of the page.
var hints = []struct {
	Reason string
	hint
}{
	{tokenatorv1.ReasonTokenIssued, hint{"refreshes at `refreshAt`", "nothing"}},
	{tokenatorv1.ReasonCredentialsNotFound, hint{"waits for the Secret or key to appear (watched)", "create or fix the credentials Secret"}},
	{tokenatorv1.ReasonTokenRequestFailed, hint{"retries at `refreshAt`, with backoff", "fix the cause below, or wait for the endpoint; annotate to retry at once"}},
	{tokenatorv1.ReasonSecretConflict, hint{"waits for the Secret to be deleted (watched)", "delete the other Secret or change `spec.secret.name`"}},
	{tokenatorv1.ReasonInvalidSpec, hint{"waits for a change of the spec or of the referenced objects", "fix the spec or the referenced object"}},
	{tokenatorv1.ReasonSuspended, hint{"nothing", "set `spec.suspend: false`"}},
}

// troubleshootingURL is the page the hints come from; a reason is its anchor.
const troubleshootingURL = "https://github.com/tokenator-dev/tokenator/blob/main/docs/troubleshooting.md"

// hintFor returns the hint of a Ready reason, as plain text, and the link to
// the reason's section; ok is false for a reason the page does not list.
func hintFor(reason string) (operator, you, link string, ok bool) {
	for _, h := range hints {
		if h.Reason == reason {
			you := h.You
			// "the cause below" is on the page: in a terminal it is the message.
			you = strings.ReplaceAll(you, "fix the cause below", "fix the cause the message names")
			// "annotate" is what renew does.
			you = strings.ReplaceAll(you, "annotate to retry at once", "`kubectl tokenator renew` retries at once")
			return plain(h.Operator), plain(you), troubleshootingURL + "#" + strings.ToLower(reason), true
		}
	}
	return "", "", "", false
}

// plain removes Markdown code marks.
func plain(s string) string { return strings.ReplaceAll(s, "`", "") }
