package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/printers"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
)

// maxEvents is how many of an OAuthClient's latest Events `status NAME` shows.
const maxEvents = 10

type statusOptions struct {
	*options
	sel    selection
	output string
	print  *genericclioptions.JSONYamlPrintFlags
}

func newStatusCommand(o *options) *cobra.Command {
	s := &statusOptions{options: o, print: genericclioptions.NewJSONYamlPrintFlags()}
	cmd := &cobra.Command{
		Use:   "status [NAME...]",
		Short: "Show the state of OAuthClients: Ready, expiry, next refresh, failures, Secret",
		Long: "status prints a line per OAuthClient. For one OAuthClient named alone it also prints the\n" +
			"Ready message, its latest Events and what to do next.",
		Example: "  kubectl tokenator status -A\n  kubectl tokenator status -n shop buyback\n  kubectl tokenator status -n shop -l team=payments -o wide\n" +
			"  kubectl tokenator status coap lucca",
		ValidArgsFunction: o.completeClients(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return s.run(cmd.Context(), args)
		},
	}
	cmd.AddCommand(newStatusProviderCommand(o))
	cmd.Flags().BoolVarP(&s.sel.allNamespaces, "all-namespaces", "A", false, "List the OAuthClients of every namespace.")
	cmd.Flags().StringVarP(&s.sel.selector, "selector", "l", "", "A label selector, such as team=payments, to filter on.")
	cmd.Flags().StringVarP(&s.output, "output", "o", "", "Output format: wide, json or yaml.")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"wide", "json", "yaml"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func (s *statusOptions) run(ctx context.Context, names []string) error {
	if err := checkTableOutput(s.output, names, s.sel.selector); err != nil {
		return err
	}
	clients, err := s.find(s.sel, names)
	if err != nil {
		return err
	}
	if s.output == "json" || s.output == "yaml" {
		objs := make([]*unstructured.Unstructured, 0, len(clients))
		for _, c := range clients {
			objs = append(objs, c.raw)
		}
		return printObjects(s.print, s.output, s.streams.Out, objs, len(names) == 1)
	}
	if len(clients) == 0 {
		ns, _ := s.namespace()
		if s.sel.allNamespaces {
			_, err := fmt.Fprintln(s.streams.ErrOut, "No OAuthClients found.")
			return err
		}
		_, err := fmt.Fprintf(s.streams.ErrOut, "No OAuthClients found in %s namespace.\n", ns)
		return err
	}
	table := statusTable(clients, s.now())
	p := printers.NewTablePrinter(printers.PrintOptions{WithNamespace: s.sel.allNamespaces, Wide: s.output == "wide"})
	if err := p.PrintObj(table, s.streams.Out); err != nil {
		return err
	}
	if len(names) == 1 && len(clients) == 1 {
		return s.printDetail(ctx, clients[0].oc)
	}
	return nil
}

// checkTableOutput refuses an output format status does not know, and names
// given with a selector.
func checkTableOutput(output string, names []string, selector string) error {
	switch output {
	case "", "wide", "json", "yaml":
	default:
		return fmt.Errorf("unknown output format %q: use wide, json or yaml", output)
	}
	if len(names) > 0 && selector != "" {
		return fmt.Errorf("name cannot be provided when a selector is specified")
	}
	return nil
}

// printObjects prints objects as kubectl get -o json|yaml does: one object
// when one was named, else a List.
func printObjects(flags *genericclioptions.JSONYamlPrintFlags, output string, out io.Writer, objs []*unstructured.Unstructured, single bool) error {
	p, err := flags.ToPrinter(output)
	if err != nil {
		return err
	}
	if single && len(objs) == 1 {
		return p.PrintObj(objs[0], out)
	}
	list := &unstructured.UnstructuredList{Object: map[string]any{"apiVersion": "v1", "kind": "List", "metadata": map[string]any{}}}
	for _, o := range objs {
		list.Items = append(list.Items, *o)
	}
	return p.PrintObj(list, out)
}

// statusTable is the table of the OAuthClients at now; the columns of
// priority 1 are shown with -o wide.
func statusTable(clients []found, now time.Time) *metav1.Table {
	t := &metav1.Table{ColumnDefinitions: []metav1.TableColumnDefinition{
		{Name: "Name", Type: "string", Format: "name"},
		{Name: "Ready", Type: "string"},
		{Name: "Reason", Type: "string"},
		{Name: "Expires In", Type: "string"},
		{Name: "Next Refresh", Type: "string"},
		{Name: "Failed Attempts", Type: "integer"},
		{Name: "Secret", Type: "string"},
		{Name: "Last Refresh", Type: "string", Priority: 1},
		{Name: "Source", Type: "string", Priority: 1},
		{Name: "Message", Type: "string", Priority: 1},
	}}
	for _, c := range clients {
		oc := c.oc
		ready, reason, message := readyOf(oc.Status.Conditions)
		lastRefresh := "<none>"
		if oc.Status.LastRefreshTime != nil {
			lastRefresh = duration.HumanDuration(now.Sub(oc.Status.LastRefreshTime.Time)) + " ago"
		}
		t.Rows = append(t.Rows, metav1.TableRow{
			Cells: []any{oc.Name, ready, reason, expiresIn(oc, now), nextRefresh(oc, now),
				int64(oc.Status.FailedAttempts), secretName(oc), lastRefresh, tokenSource(oc), message},
			Object: runtime.RawExtension{Object: c.raw},
		})
	}
	return t
}

// tokenSource says where the token comes from: the OAuthClient's own
// endpoint (inline), or a ClusterOAuthProvider's endpoint with the client's
// own credentials, or its shared token.
func tokenSource(oc *tokenatorv1.OAuthClient) string {
	switch {
	case oc.Spec.ProviderRef == nil:
		return "inline"
	case oc.Status.TokenSource == tokenatorv1.TokenSourceShared:
		return "coap/" + oc.Spec.ProviderRef.Name + " (shared)"
	case oc.Spec.CredentialsSecretRef != nil:
		return "coap/" + oc.Spec.ProviderRef.Name + " (own credentials)"
	}
	return "coap/" + oc.Spec.ProviderRef.Name
}

// providerName is the ClusterOAuthProvider oc refers to, or "".
func providerName(oc *tokenatorv1.OAuthClient) string {
	if oc.Spec.ProviderRef == nil {
		return ""
	}
	return oc.Spec.ProviderRef.Name
}

// expiresIn is how long the token held is valid, or how long ago it expired.
func expiresIn(oc *tokenatorv1.OAuthClient, now time.Time) string {
	if oc.Status.ExpiresAt == nil {
		return "<none>"
	}
	if d := oc.Status.ExpiresAt.Sub(now); d > 0 {
		return duration.HumanDuration(d)
	}
	return "expired " + duration.HumanDuration(now.Sub(oc.Status.ExpiresAt.Time)) + " ago"
}

// nextRefresh is when the next token request is due.
func nextRefresh(oc *tokenatorv1.OAuthClient, now time.Time) string {
	switch {
	case oc.Spec.Suspend:
		return "suspended"
	case oc.Status.RefreshAt == nil:
		return "<none>"
	}
	if d := oc.Status.RefreshAt.Sub(now); d > 0 {
		return "in " + duration.HumanDuration(d)
	}
	return "due"
}

// printDetail prints what the table leaves out for one OAuthClient: the
// Ready message, the times, the latest Events and what to do next.
func (s *statusOptions) printDetail(ctx context.Context, oc *tokenatorv1.OAuthClient) error {
	if err := printSummary(s.streams.Out, oc); err != nil {
		return err
	}
	cond := meta.FindStatusCondition(oc.Status.Conditions, tokenatorv1.ConditionReady)

	events, err := s.events(ctx, oc)
	if err != nil {
		fmt.Fprintf(s.streams.ErrOut, "warning: listing the Events of %s: %v\n", oc.Name, err)
	} else {
		printEvents(s.streams.Out, events, s.now())
	}

	if cond != nil {
		printHint(s.streams.Out, hints, cond.Reason)
	}
	return nil
}

// printSummary prints the Ready message and the schedule of oc, and says when
// the status is not about the current spec, or missing.
func printSummary(out io.Writer, oc *tokenatorv1.OAuthClient) error {
	w := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	fmt.Fprintln(w)
	writeReady(w, meta.FindStatusCondition(oc.Status.Conditions, tokenatorv1.ConditionReady), oc.Generation,
		fmt.Sprintf("is the manager running, and does it watch namespace %s?", oc.Namespace))
	if oc.Spec.ProviderRef != nil {
		fmt.Fprintf(w, "Token from:\tClusterOAuthProvider %s\n", tokenSource(oc)[len("coap/"):])
	}
	fmt.Fprintf(w, "Expires at:\t%s\n", timeOrNone(oc.Status.ExpiresAt))
	fmt.Fprintf(w, "Next refresh at:\t%s\n", timeOrNone(oc.Status.RefreshAt))
	fmt.Fprintf(w, "Last refresh:\t%s\n", timeOrNone(oc.Status.LastRefreshTime))
	if oc.Status.LastFailureTime != nil {
		fmt.Fprintf(w, "Last failure:\t%s\n", timeOrNone(oc.Status.LastFailureTime))
	}
	return w.Flush()
}

// writeReady writes the Ready message of an object at generation, and a note
// when it is of an older generation; without a condition it asks question.
func writeReady(w io.Writer, cond *metav1.Condition, generation int64, question string) {
	if cond == nil {
		fmt.Fprintf(w, "Message:\tno Ready condition yet: %s\n", question)
		return
	}
	fmt.Fprintf(w, "Message:\t%s\n", cond.Message)
	if cond.ObservedGeneration != generation {
		fmt.Fprintf(w, "Note:\tthe status is of generation %d, the spec is at %d: the manager has not acted on the latest change yet\n",
			cond.ObservedGeneration, generation)
	}
}

func timeOrNone(t *metav1.Time) string {
	if t == nil {
		return "<none>"
	}
	return t.UTC().Format(time.RFC3339)
}

// events returns the latest Events of oc, oldest first.
func (s *statusOptions) events(ctx context.Context, oc *tokenatorv1.OAuthClient) ([]corev1.Event, error) {
	cs, err := s.clientset()
	if err != nil {
		return nil, err
	}
	list, err := cs.CoreV1().Events(oc.Namespace).List(ctx, metav1.ListOptions{FieldSelector: fields.Set{
		"involvedObject.kind": "OAuthClient",
		"involvedObject.name": oc.Name,
		"involvedObject.uid":  string(oc.UID),
	}.String()})
	if err != nil {
		return nil, err
	}
	items := list.Items
	sort.SliceStable(items, func(i, j int) bool { return eventTime(items[i]).Before(eventTime(items[j])) })
	if len(items) > maxEvents {
		items = items[len(items)-maxEvents:]
	}
	return items, nil
}

// eventTime is when an Event was last seen, whichever API wrote it.
func eventTime(e corev1.Event) time.Time {
	switch {
	case e.Series != nil && !e.Series.LastObservedTime.IsZero():
		return e.Series.LastObservedTime.Time
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

func printEvents(out io.Writer, events []corev1.Event, now time.Time) {
	if len(events) == 0 {
		fmt.Fprintln(out, "\nEvents: <none>")
		return
	}
	fmt.Fprintln(out, "\nEvents:")
	w := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	fmt.Fprintln(w, "  LAST SEEN\tTYPE\tREASON\tMESSAGE")
	for _, e := range events {
		msg := strings.TrimSpace(e.Message)
		fmt.Fprintf(w, "  %s\t%s\t%s\t%s\n", duration.HumanDuration(now.Sub(eventTime(e))), e.Type, e.Reason, msg)
	}
	_ = w.Flush()
}
