package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/resource"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
)

// renewPoll is how often renew reads the OAuthClients it waits for.
const renewPoll = 250 * time.Millisecond

type renewOptions struct {
	*options
	sel     selection
	timeout time.Duration
	wait    bool
}

func newRenewCommand(o *options) *cobra.Command {
	r := &renewOptions{options: o}
	cmd := &cobra.Command{
		Use:   "renew (NAME... | --all | -l SELECTOR)",
		Short: "Ask for a new token now, and wait until it is in the Secret",
		Long: "renew sets the " + tokenatorv1.AnnotationRefreshRequestedAt + " annotation of each OAuthClient to a\n" +
			"new value, which makes the operator request a new token at once (after the minimum interval\n" +
			"between two requests of one client), then waits until each has a new token or has failed.\n" +
			"It exits with a non-zero code when one of them failed or did not get a token within --timeout.",
		Example:           "  kubectl tokenator renew -n shop buyback\n  kubectl tokenator renew -n shop --all\n  kubectl tokenator renew -A -l team=payments --timeout 2m",
		ValidArgsFunction: o.completeClients(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return r.run(cmd.Context(), args)
		},
	}
	cmd.Flags().BoolVar(&r.sel.all, "all", false, "Renew every OAuthClient of the namespace (of every namespace with -A).")
	cmd.Flags().BoolVarP(&r.sel.allNamespaces, "all-namespaces", "A", false, "With --all or -l, select in every namespace.")
	cmd.Flags().StringVarP(&r.sel.selector, "selector", "l", "", "Renew the OAuthClients matching this label selector.")
	cmd.Flags().DurationVar(&r.timeout, "timeout", time.Minute, "How long to wait for the new tokens.")
	cmd.Flags().BoolVar(&r.wait, "wait", true, "Wait for the new tokens; --wait=false only asks for them.")
	return cmd
}

// renewal is one OAuthClient being renewed.
type renewal struct {
	c found
	// request is the value set on the annotation.
	request string
	// previous is status.lastRefreshTime before the request.
	previous *metav1.Time
	done     bool
	err      error
	// shared says the Secret was written again from a ClusterOAuthProvider's
	// shared token, which no one of its clients renews.
	shared bool
}

func (r *renewOptions) run(ctx context.Context, names []string) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := checkSelection(r.sel, names, "renew"); err != nil {
		return err
	}
	clients, err := r.find(r.sel, names)
	if err != nil {
		return err
	}
	if len(clients) == 0 {
		return errors.New("no OAuthClients found")
	}
	// One value for the whole run: a new one each time renew runs.
	value := r.now().UTC().Format(time.RFC3339Nano)
	var rs []*renewal
	for _, c := range clients {
		rn := &renewal{c: c, request: value, previous: c.oc.Status.LastRefreshTime}
		if c.oc.Spec.Suspend {
			rn.done, rn.err = true, errors.New("suspended: spec.suspend is true, no token is requested; set it to false first")
		} else if err := r.annotate(c, value); err != nil {
			rn.done, rn.err = true, fmt.Errorf("setting %s: %w", tokenatorv1.AnnotationRefreshRequestedAt, err)
		} else {
			fmt.Fprintf(r.streams.Out, "oauthclient %s/%s: new token requested\n", c.oc.Namespace, c.oc.Name)
		}
		rs = append(rs, rn)
	}
	if r.wait {
		r.waitAll(ctx, rs)
	}
	failed := 0
	for _, rn := range rs {
		name := rn.c.oc.Namespace + "/" + rn.c.oc.Name
		switch {
		case rn.err != nil:
			failed++
			fmt.Fprintf(r.streams.ErrOut, "oauthclient %s: %v\n", name, rn.err)
		case rn.done && rn.shared:
			fmt.Fprintf(r.streams.Out, "oauthclient %s: Secret %s written again from the shared token of ClusterOAuthProvider %s, valid until %s "+
				"(a shared token is renewed by its provider, not by one of its clients)\n",
				name, secretName(rn.c.oc), providerName(rn.c.oc), timeOrNone(rn.c.oc.Status.ExpiresAt))
		case rn.done:
			fmt.Fprintf(r.streams.Out, "oauthclient %s: new token in Secret %s, valid until %s\n",
				name, secretName(rn.c.oc), timeOrNone(rn.c.oc.Status.ExpiresAt))
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d OAuthClients did not get a new token", failed, len(rs))
	}
	return nil
}

// annotate sets the refresh annotation of c to value.
func (r *renewOptions) annotate(c found, value string) error {
	return mergePatch(c, map[string]any{"metadata": map[string]any{
		"annotations": map[string]string{tokenatorv1.AnnotationRefreshRequestedAt: value}}})
}

// waitAll reads the OAuthClients until each has handled its request or the
// timeout passed.
func (r *renewOptions) waitAll(ctx context.Context, rs []*renewal) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	tick := time.NewTicker(renewPoll)
	defer tick.Stop()
	for {
		pending := 0
		for _, rn := range rs {
			if rn.done {
				continue
			}
			r.check(rn)
			if !rn.done {
				pending++
			}
		}
		if pending == 0 {
			return
		}
		select {
		case <-ctx.Done():
			for _, rn := range rs {
				if !rn.done {
					rn.done, rn.err = true, timedOut(rn.c.oc, r.timeout)
				}
			}
			return
		case <-tick.C:
		}
	}
}

// check reads rn's OAuthClient again: done once the operator handled the
// request, with an error unless that gave a new token.
func (r *renewOptions) check(rn *renewal) {
	obj, err := resource.NewHelper(rn.c.info.Client, rn.c.info.Mapping).Get(rn.c.info.Namespace, rn.c.info.Name)
	if err != nil {
		rn.done, rn.err = true, err
		return
	}
	rn.c.info.Object = obj
	c, err := toClient(rn.c.info)
	if err != nil {
		rn.done, rn.err = true, err
		return
	}
	rn.c = c
	st := c.oc.Status
	if st.LastHandledRefreshRequest != rn.request {
		return
	}
	rn.done = true
	cond := meta.FindStatusCondition(st.Conditions, tokenatorv1.ConditionReady)
	moved := st.LastRefreshTime != nil && (rn.previous == nil || !st.LastRefreshTime.Equal(rn.previous))
	if cond != nil && cond.Status == metav1.ConditionTrue && moved {
		return
	}
	if cond != nil && cond.Status == metav1.ConditionTrue && st.TokenSource == tokenatorv1.TokenSourceShared {
		rn.shared = true
		return
	}
	rn.err = failure(c.oc)
}

// failure describes the Ready condition of a client that did not get a token.
func failure(oc *tokenatorv1.OAuthClient) error {
	cond := meta.FindStatusCondition(oc.Status.Conditions, tokenatorv1.ConditionReady)
	if cond == nil {
		return errors.New("no Ready condition")
	}
	msg := fmt.Sprintf("%s: %s", cond.Reason, cond.Message)
	if _, you, link, ok := hintFor(cond.Reason); ok {
		msg += fmt.Sprintf(" (you: %s; see %s)", you, link)
	}
	return errors.New(msg)
}

// timedOut says why a client had no new token within the timeout.
func timedOut(oc *tokenatorv1.OAuthClient, timeout time.Duration) error {
	why := "the operator has not handled the request (is the manager running, and does it watch this namespace?)"
	if cond := meta.FindStatusCondition(oc.Status.Conditions, tokenatorv1.ConditionReady); cond != nil {
		why = fmt.Sprintf("Ready is %s, %s: %s", cond.Status, cond.Reason, cond.Message)
	}
	return fmt.Errorf("no new token within %s: %s", timeout, why)
}
