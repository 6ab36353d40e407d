package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/resource"
)

type suspendOptions struct {
	*options
	sel     selection
	suspend bool
}

// newSuspendCommand builds suspend (suspend true) or resume.
func newSuspendCommand(o *options, suspend bool) *cobra.Command {
	s := &suspendOptions{options: o, suspend: suspend}
	verb, value := "resume", "false"
	short := "Let OAuthClients request tokens again (spec.suspend: false)"
	long := "resume sets spec.suspend to false on each OAuthClient that is suspended: the operator then\n" +
		"requests a token at once if the current one is due or expired. An OAuthClient that is not\n" +
		"suspended is left as it is."
	if suspend {
		verb, value = "suspend", "true"
		short = "Stop OAuthClients from requesting tokens (spec.suspend: true)"
		long = "suspend sets spec.suspend to true on each OAuthClient: the operator requests no token for it\n" +
			"and leaves its Secret as it is, so the token in it expires. An OAuthClient that is suspended\n" +
			"already is left as it is."
	}
	cmd := &cobra.Command{
		Use:               verb + " (NAME... | --all | -l SELECTOR)",
		Short:             short,
		Long:              long + "\nIt sets the field with a merge patch, as kubectl patch --type merge -p '{\"spec\":{\"suspend\":" + value + "}}'.",
		Example:           fmt.Sprintf("  kubectl tokenator %[1]s -n shop buyback\n  kubectl tokenator %[1]s -n shop --all\n  kubectl tokenator %[1]s -A -l team=payments", verb),
		ValidArgsFunction: o.completeClients(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return s.run(args)
		},
	}
	cmd.Flags().BoolVar(&s.sel.all, "all", false, "Every OAuthClient of the namespace (of every namespace with -A).")
	cmd.Flags().BoolVarP(&s.sel.allNamespaces, "all-namespaces", "A", false, "With --all or -l, select in every namespace.")
	cmd.Flags().StringVarP(&s.sel.selector, "selector", "l", "", "The OAuthClients matching this label selector.")
	return cmd
}

func (s *suspendOptions) run(names []string) error {
	verb := "resume"
	if s.suspend {
		verb = "suspend"
	}
	if err := checkSelection(s.sel, names, verb); err != nil {
		return err
	}
	clients, err := s.find(s.sel, names)
	if err != nil {
		return err
	}
	if len(clients) == 0 {
		return errors.New("no OAuthClients found")
	}
	failed := 0
	for _, c := range clients {
		name := c.oc.Namespace + "/" + c.oc.Name
		switch {
		case c.oc.Spec.Suspend == s.suspend && s.suspend:
			fmt.Fprintf(s.streams.Out, "oauthclient %s: already suspended, left as it is\n", name)
		case c.oc.Spec.Suspend == s.suspend:
			fmt.Fprintf(s.streams.Out, "oauthclient %s: not suspended, nothing to resume\n", name)
		default:
			if err := patchSuspend(c, s.suspend); err != nil {
				failed++
				fmt.Fprintf(s.streams.ErrOut, "oauthclient %s: setting spec.suspend: %v\n", name, err)
				continue
			}
			if s.suspend {
				fmt.Fprintf(s.streams.Out, "oauthclient %s: suspended (spec.suspend: false -> true): no token is requested, "+
					"the Secret %s keeps its token, valid until %s\n", name, secretName(c.oc), timeOrNone(c.oc.Status.ExpiresAt))
			} else {
				fmt.Fprintf(s.streams.Out, "oauthclient %s: resumed (spec.suspend: true -> false): "+
					"a token is requested at once if the current one is due or expired\n", name)
			}
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d OAuthClients could not be changed", failed, len(clients))
	}
	return nil
}

// checkSelection requires exactly one of names, --all and -l, and -A only
// with --all or -l.
func checkSelection(sel selection, names []string, verb string) error {
	chosen := 0
	for _, b := range []bool{len(names) > 0, sel.all, sel.selector != ""} {
		if b {
			chosen++
		}
	}
	if chosen != 1 {
		return fmt.Errorf("name the OAuthClients to %s, or give --all or -l SELECTOR (one of the three)", verb)
	}
	if sel.allNamespaces && len(names) > 0 {
		return errors.New("-A goes with --all or -l, not with names")
	}
	return nil
}

// patchSuspend sets spec.suspend of c.
func patchSuspend(c found, suspend bool) error {
	return mergePatch(c, map[string]any{"spec": map[string]any{"suspend": suspend}})
}

// mergePatch applies a JSON merge patch to c.
func mergePatch(c found, patch map[string]any) error {
	body, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	_, err = resource.NewHelper(c.info.Client, c.info.Mapping).
		WithFieldManager("kubectl-tokenator").
		Patch(c.info.Namespace, c.info.Name, types.MergePatchType, body, nil)
	return err
}
