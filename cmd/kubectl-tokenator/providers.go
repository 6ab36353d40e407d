package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/dynamic"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
)

// providerResource is what the resource builder asks for ClusterOAuthProviders.
const providerResource = "clusteroauthproviders.tokenator.dev"

// providerAliases are the names of the coap subcommands of status and inspect.
var providerAliases = []string{"clusteroauthprovider", "clusteroauthproviders"}

// Where the API serves the two kinds, for the dynamic client.
var (
	clientsGVR   = tokenatorv1.GroupVersion.WithResource("oauthclients")
	providersGVR = tokenatorv1.GroupVersion.WithResource("clusteroauthproviders")
)

// foundProvider is a ClusterOAuthProvider as the API server returned it and typed.
type foundProvider struct {
	raw *unstructured.Unstructured
	p   *tokenatorv1.ClusterOAuthProvider
}

// findProviders returns the ClusterOAuthProviders named, or selected, by name.
func (o *options) findProviders(selector string, names []string) ([]foundProvider, error) {
	infos, err := o.infos(providerResource, selection{selector: selector}, names)
	if err != nil {
		return nil, err
	}
	out := make([]foundProvider, 0, len(infos))
	for _, info := range infos {
		u, ok := info.Object.(*unstructured.Unstructured)
		if !ok {
			return nil, fmt.Errorf("unexpected object %T", info.Object)
		}
		p := &tokenatorv1.ClusterOAuthProvider{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, p); err != nil {
			return nil, fmt.Errorf("reading ClusterOAuthProvider %s: %w", u.GetName(), err)
		}
		out = append(out, foundProvider{raw: u, p: p})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].p.Name < out[j].p.Name })
	return out, nil
}

// dynamicClient returns a client of any resource.
func (o *options) dynamicClient() (dynamic.Interface, error) {
	cfg, err := o.flags.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	return dynamic.NewForConfig(cfg)
}

type providerStatusOptions struct {
	*options
	selector string
	output   string
	print    *genericclioptions.JSONYamlPrintFlags
}

func newStatusProviderCommand(o *options) *cobra.Command {
	s := &providerStatusOptions{options: o, print: genericclioptions.NewJSONYamlPrintFlags()}
	cmd := &cobra.Command{
		Use:     "coap [NAME...]",
		Aliases: providerAliases,
		Short:   "Show the state of ClusterOAuthProviders: Ready, clients, shared tokens, what they allow",
		Long: "status coap prints a line per ClusterOAuthProvider. For one named alone it also prints the\n" +
			"Ready message, what it allows, the OAuthClients that use it and what to do next.",
		Example:           "  kubectl tokenator status coap\n  kubectl tokenator status coap lucca\n  kubectl tokenator status coap -o wide",
		ValidArgsFunction: o.completeProviders(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return s.run(cmd.Context(), args)
		},
	}
	cmd.Flags().StringVarP(&s.selector, "selector", "l", "", "A label selector to filter on.")
	cmd.Flags().StringVarP(&s.output, "output", "o", "", "Output format: wide, json or yaml.")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"wide", "json", "yaml"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func (s *providerStatusOptions) run(ctx context.Context, names []string) error {
	if err := checkTableOutput(s.output, names, s.selector); err != nil {
		return err
	}
	providers, err := s.findProviders(s.selector, names)
	if err != nil {
		return err
	}
	if s.output == "json" || s.output == "yaml" {
		objs := make([]*unstructured.Unstructured, 0, len(providers))
		for _, p := range providers {
			objs = append(objs, p.raw)
		}
		return printObjects(s.print, s.output, s.streams.Out, objs, len(names) == 1)
	}
	if len(providers) == 0 {
		_, err := fmt.Fprintln(s.streams.ErrOut, "No ClusterOAuthProviders found.")
		return err
	}
	p := printers.NewTablePrinter(printers.PrintOptions{Wide: s.output == "wide"})
	if err := p.PrintObj(providerTable(providers, s.now()), s.streams.Out); err != nil {
		return err
	}
	if len(names) == 1 && len(providers) == 1 {
		return s.printDetail(ctx, providers[0].p)
	}
	return nil
}

// providerTable is the table of the providers; the columns of priority 1 are
// shown with -o wide.
func providerTable(providers []foundProvider, now time.Time) *metav1.Table {
	t := &metav1.Table{ColumnDefinitions: []metav1.TableColumnDefinition{
		{Name: "Name", Type: "string", Format: "name"},
		{Name: "Ready", Type: "string"},
		{Name: "Reason", Type: "string"},
		{Name: "Clients", Type: "integer"},
		{Name: "Shared Tokens", Type: "integer"},
		{Name: "Age", Type: "string"},
		{Name: "Allowed Namespaces", Type: "string", Priority: 1},
		{Name: "Allowed Scopes", Type: "string", Priority: 1},
		{Name: "Message", Type: "string", Priority: 1},
	}}
	for _, f := range providers {
		p := f.p
		ready, reason, message := readyOf(p.Status.Conditions)
		t.Rows = append(t.Rows, metav1.TableRow{
			Cells: []any{p.Name, ready, reason, int64(p.Status.Clients), int64(p.Status.SharedTokens),
				duration.HumanDuration(now.Sub(p.CreationTimestamp.Time)), allowedNamespaces(p), allowedScopes(p), message},
			Object: runtime.RawExtension{Object: f.raw},
		})
	}
	return t
}

// readyOf returns the status, reason and message of a Ready condition, or
// Unknown and <none> without one.
func readyOf(conds []metav1.Condition) (status, reason, message string) {
	if c := meta.FindStatusCondition(conds, tokenatorv1.ConditionReady); c != nil {
		return string(c.Status), c.Reason, c.Message
	}
	return "Unknown", "<none>", ""
}

// allowedNamespaces is the provider's namespace selector, as kubectl shows one.
func allowedNamespaces(p *tokenatorv1.ClusterOAuthProvider) string {
	s := p.Spec.AllowedNamespaces
	if s == nil || (len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0) {
		return "<every namespace>"
	}
	return metav1.FormatLabelSelector(s)
}

// allowedScopes is the provider's scope globs, comma-separated.
func allowedScopes(p *tokenatorv1.ClusterOAuthProvider) string {
	if len(p.Spec.AllowedScopes) == 0 {
		return "<any scope>"
	}
	return strings.Join(p.Spec.AllowedScopes, ",")
}

// endpoint names where a provider's tokens come from: a preset, or the
// tokenURL without its query (which may carry a secret).
func endpoint(e tokenatorv1.OAuthEndpoint) string {
	if e.TokenURL == "" {
		return "preset " + string(e.Provider)
	}
	u, err := url.Parse(e.TokenURL)
	if err != nil {
		return "<invalid tokenURL>"
	}
	u.RawQuery, u.Fragment, u.User = "", "", nil
	if e.Provider != "" && e.Provider != "generic" {
		return "preset " + string(e.Provider) + ", " + u.String()
	}
	return u.String()
}

// printDetail prints what the table leaves out for one provider: its Ready
// message, what it allows, the OAuthClients that use it and what next.
func (s *providerStatusOptions) printDetail(ctx context.Context, p *tokenatorv1.ClusterOAuthProvider) error {
	w := tabwriter.NewWriter(s.streams.Out, 0, 8, 2, ' ', 0)
	fmt.Fprintln(w)
	cond := meta.FindStatusCondition(p.Status.Conditions, tokenatorv1.ConditionReady)
	writeReady(w, cond, p.Generation, "is the manager running?")
	fmt.Fprintf(w, "Endpoint:\t%s\n", endpoint(p.Spec.OAuthEndpoint))
	if c := p.Spec.CredentialsSecretRef; c != nil {
		fmt.Fprintf(w, "Credentials:\tcentral, Secret %s of the cluster resource namespace\n", c.Name)
	} else {
		fmt.Fprintln(w, "Credentials:\tnone central: each OAuthClient brings its own")
	}
	fmt.Fprintf(w, "Allowed namespaces:\t%s\n", allowedNamespaces(p))
	fmt.Fprintf(w, "Allowed scopes:\t%s\n", allowedScopes(p))
	fmt.Fprintf(w, "Clients:\t%d (that refer to it and that it allows)\n", p.Status.Clients)
	fmt.Fprintf(w, "Shared tokens:\t%d\n", p.Status.SharedTokens)
	if err := w.Flush(); err != nil {
		return err
	}
	users, note, err := s.providerClients(ctx, p.Name)
	if err != nil {
		fmt.Fprintf(s.streams.ErrOut, "warning: listing the OAuthClients of %s: %v\n", p.Name, err)
	} else {
		printProviderClients(s.streams.Out, users, note)
	}
	if cond != nil {
		printHint(s.streams.Out, providerHints, cond.Reason)
	}
	return nil
}

// printProviderClients prints the OAuthClients that refer to a provider.
func printProviderClients(out io.Writer, clients []tokenatorv1.OAuthClient, note string) {
	if len(clients) == 0 {
		fmt.Fprintln(out, "\nOAuthClients using it: <none>")
	} else {
		fmt.Fprintln(out, "\nOAuthClients using it:")
		w := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
		fmt.Fprintln(w, "  NAMESPACE\tNAME\tREADY\tREASON\tSOURCE")
		for i := range clients {
			oc := &clients[i]
			ready, reason, _ := readyOf(oc.Status.Conditions)
			fmt.Fprintf(w, "  %s\t%s\t%s\t%s\t%s\n", oc.Namespace, oc.Name, ready, reason, tokenSource(oc))
		}
		_ = w.Flush()
	}
	if note != "" {
		fmt.Fprintf(out, "  Note: %s\n", note)
	}
}

// providerClients lists the OAuthClients whose spec.providerRef names the
// provider: in every namespace when the user may list them cluster-wide, else
// in each namespace the user may list them in (when the user may list
// namespaces), else in the current namespace only; note says which part was
// left out.
func (o *options) providerClients(ctx context.Context, name string) (users []tokenatorv1.OAuthClient, note string, err error) {
	dc, err := o.dynamicClient()
	if err != nil {
		return nil, "", err
	}
	all, err := listClients(ctx, dc, metav1.NamespaceAll)
	if err == nil {
		return usersOf(all, name), "", nil
	}
	if !apierrors.IsForbidden(err) {
		return nil, "", err
	}
	cs, err := o.clientset()
	if err != nil {
		return nil, "", err
	}
	var namespaces []string
	if list, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{}); err == nil {
		for _, ns := range list.Items {
			namespaces = append(namespaces, ns.Name)
		}
	} else {
		ns, err := o.namespace()
		if err != nil {
			return nil, "", err
		}
		namespaces = []string{ns}
		note = fmt.Sprintf("you may not list the OAuthClients of every namespace, nor list namespaces: only namespace %s is shown", ns)
	}
	var found []tokenatorv1.OAuthClient
	forbidden := 0
	for _, ns := range namespaces {
		items, err := listClients(ctx, dc, ns)
		switch {
		case apierrors.IsForbidden(err):
			forbidden++
		case err != nil:
			return nil, "", err
		}
		found = append(found, items...)
	}
	if forbidden > 0 {
		note = fmt.Sprintf("you may not list the OAuthClients of %d of %d namespaces: theirs are not shown", forbidden, len(namespaces))
		if len(namespaces) == 1 {
			note = fmt.Sprintf("you may not list the OAuthClients of namespace %s, nor of every namespace: none is shown", namespaces[0])
		}
	}
	return usersOf(found, name), note, nil
}

// listClients lists the OAuthClients of a namespace, or of all of them.
func listClients(ctx context.Context, dc dynamic.Interface, ns string) ([]tokenatorv1.OAuthClient, error) {
	list, err := dc.Resource(clientsGVR).Namespace(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := make([]tokenatorv1.OAuthClient, 0, len(list.Items))
	for _, u := range list.Items {
		var oc tokenatorv1.OAuthClient
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &oc); err != nil {
			return nil, fmt.Errorf("reading OAuthClient %s/%s: %w", u.GetNamespace(), u.GetName(), err)
		}
		out = append(out, oc)
	}
	return out, nil
}

// usersOf keeps the OAuthClients whose spec.providerRef names provider,
// sorted by namespace and name.
func usersOf(clients []tokenatorv1.OAuthClient, provider string) []tokenatorv1.OAuthClient {
	var out []tokenatorv1.OAuthClient
	for _, oc := range clients {
		if providerName(&oc) == provider {
			out = append(out, oc)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Name < out[j].Name
	})
	return out
}
