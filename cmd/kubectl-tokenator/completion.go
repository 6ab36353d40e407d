package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// completionTimeout bounds the API request of a completion: a shell waits for it.
const completionTimeout = 5 * time.Second

func newCompletionCommand(streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "completion (bash | zsh | fish | kubectl)",
		Short: "Print a shell completion script",
		Long: "completion prints the completion script of a shell, for kubectl-tokenator run as it is, or, with\n" +
			"kubectl, the kubectl_complete-tokenator script with which kubectl (1.26 and later) completes\n" +
			"`kubectl tokenator`. Names of OAuthClients and ClusterOAuthProviders are completed from the\n" +
			"API server, in the namespace of -n (else the context's).",
		Example: "  source <(kubectl-tokenator completion bash)\n" +
			"  kubectl-tokenator completion zsh > \"${fpath[1]}/_kubectl-tokenator\"\n" +
			"  kubectl-tokenator completion fish > ~/.config/fish/completions/kubectl-tokenator.fish\n" +
			"  kubectl-tokenator completion kubectl > kubectl_complete-tokenator && sudo install kubectl_complete-tokenator /usr/local/bin/",
		Args:                  cobra.ExactArgs(1),
		ValidArgs:             []string{"bash", "zsh", "fish", "kubectl"},
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			root, out := cmd.Root(), streams.Out
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(out, true)
			case "zsh":
				return root.GenZshCompletion(out)
			case "fish":
				return root.GenFishCompletion(out, true)
			case "kubectl":
				_, err := fmt.Fprint(out, "#!/usr/bin/env sh\n# kubectl runs this to complete `kubectl tokenator`.\nkubectl tokenator __complete \"$@\"\n")
				return err
			}
			return fmt.Errorf("unknown shell %q: use bash, zsh, fish or kubectl", args[0])
		},
	}
	return cmd
}

// completeClients completes the names of the OAuthClients of the namespace,
// up to max arguments (0: any number), leaving out those already given.
func (o *options) completeClients(max int) cobra.CompletionFunc {
	return o.completeNames(clientsGVR, true, max)
}

// completeProviders completes the names of ClusterOAuthProviders.
func (o *options) completeProviders(max int) cobra.CompletionFunc {
	return o.completeNames(providersGVR, false, max)
}

func (o *options) completeNames(gvr schema.GroupVersionResource, namespaced bool, max int) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if max > 0 && len(args) >= max {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		dc, err := o.dynamicClient()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		r := dc.Resource(gvr).Namespace("")
		if namespaced {
			ns, err := o.namespace()
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			r = dc.Resource(gvr).Namespace(ns)
		}
		ctx, cancel := context.WithTimeout(context.Background(), completionTimeout)
		defer cancel()
		list, err := r.List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var names []cobra.Completion
		for _, item := range list.Items {
			if n := item.GetName(); strings.HasPrefix(n, toComplete) && !slices.Contains(args, n) {
				names = append(names, n)
			}
		}
		slices.Sort(names)
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}
