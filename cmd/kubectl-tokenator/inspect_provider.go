package main

import (
	"context"
	"fmt"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
)

// defaultManagerNamespace is the namespace of the manager in config/default,
// and so its cluster resource namespace and the namespace of its Lease.
const defaultManagerNamespace = "tokenator-system"

type inspectProviderOptions struct {
	*options
	output                   string
	clusterResourceNamespace string
}

// providerInspection is what inspect coap -o json|yaml prints.
type providerInspection struct {
	ClusterOAuthProvider string            `json:"clusterOAuthProvider"`
	SharedTokens         []sharedTokenInfo `json:"sharedTokens"`
}

// sharedTokenInfo is one shared token of a provider, never the token.
type sharedTokenInfo struct {
	Secret    objectRef `json:"secret"`
	IssuedAt  string    `json:"issuedAt,omitempty"`
	RefreshAt string    `json:"refreshAt,omitempty"`
	Token     tokenInfo `json:"token"`
}

func newInspectProviderCommand(o *options) *cobra.Command {
	i := &inspectProviderOptions{options: o}
	cmd := &cobra.Command{
		Use:     "coap NAME",
		Aliases: providerAliases,
		Short:   "Tell what the shared tokens of a ClusterOAuthProvider say, without showing them",
		Long: "inspect coap reads the shared token Secrets of a ClusterOAuthProvider, in the cluster resource\n" +
			"namespace, and prints for each when it was issued, when it is refreshed and what the token\n" +
			"says, as inspect does for an OAuthClient. A provider without central credentials has none.",
		Example:           "  kubectl tokenator inspect coap lucca\n  kubectl tokenator inspect coap lucca --cluster-resource-namespace tokenator -o yaml",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.completeProviders(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return i.run(cmd.Context(), args[0])
		},
	}
	addDataOutputFlag(cmd, &i.output)
	cmd.Flags().StringVar(&i.clusterResourceNamespace, "cluster-resource-namespace", defaultManagerNamespace,
		"The manager's --cluster-resource-namespace, where shared tokens are kept (the namespace the manager runs in).")
	return cmd
}

func (i *inspectProviderOptions) run(ctx context.Context, name string) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := checkDataOutput(i.output); err != nil {
		return err
	}
	providers, err := i.findProviders("", []string{name})
	if err != nil {
		return err
	}
	p := providers[0].p
	tokens, err := i.sharedTokens(ctx, p)
	if err != nil {
		return err
	}
	if i.output != "" {
		return printData(i.streams.Out, i.output, providerInspection{ClusterOAuthProvider: p.Name, SharedTokens: tokens})
	}
	w := tabwriter.NewWriter(i.streams.Out, 0, 8, 2, ' ', 0)
	fmt.Fprintf(w, "ClusterOAuthProvider:\t%s\n", p.Name)
	if len(tokens) == 0 {
		fmt.Fprintf(w, "Shared tokens:\tnone in namespace %s (its OAuthClients bring their own credentials, or none has a token yet)\n", i.clusterResourceNamespace)
		return w.Flush()
	}
	fmt.Fprintf(w, "Shared tokens:\t%d, in namespace %s\n", len(tokens), i.clusterResourceNamespace)
	if err := w.Flush(); err != nil {
		return err
	}
	now := i.now()
	for _, t := range tokens {
		fmt.Fprintln(i.streams.Out)
		w := tabwriter.NewWriter(i.streams.Out, 0, 8, 2, ' ', 0)
		fmt.Fprintf(w, "Secret:\t%s\n", t.Secret.Name)
		for _, at := range []struct{ title, value string }{{"Issued at", t.IssuedAt}, {"Next refresh at", t.RefreshAt}} {
			if v, err := time.Parse(time.RFC3339, at.value); err == nil {
				fmt.Fprintf(w, "%s:\t%s (%s)\n", at.title, at.value, relative(v, now))
			}
		}
		if err := printToken(i.streams.Out, w, t.Token, now); err != nil {
			return err
		}
	}
	return nil
}

// sharedTokens reads the shared token Secrets the provider controls, by name.
func (i *inspectProviderOptions) sharedTokens(ctx context.Context, p *tokenatorv1.ClusterOAuthProvider) ([]sharedTokenInfo, error) {
	cs, err := i.clientset()
	if err != nil {
		return nil, err
	}
	list, err := cs.CoreV1().Secrets(i.clusterResourceNamespace).List(ctx, metav1.ListOptions{
		LabelSelector: labels.Set{tokenatorv1.LabelProvider: p.Name}.String()})
	if err != nil {
		return nil, fmt.Errorf("listing the shared token Secrets: %w", err)
	}
	tokens := []sharedTokenInfo{}
	for k := range list.Items {
		s := &list.Items[k]
		if owner := metav1.GetControllerOf(s); owner == nil || owner.UID != p.UID {
			continue
		}
		info, err := readToken(s)
		if err != nil {
			return nil, err
		}
		tokens = append(tokens, sharedTokenInfo{Secret: objectRef{Namespace: s.Namespace, Name: s.Name},
			IssuedAt: s.Annotations[tokenatorv1.AnnotationIssuedAt], RefreshAt: s.Annotations[tokenatorv1.AnnotationRefreshAt], Token: info})
	}
	sort.Slice(tokens, func(a, b int) bool { return tokens[a].Secret.Name < tokens[b].Secret.Name })
	return tokens, nil
}
