package main

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/kubernetes"
)

// version is the plugin's version, set at build time with
// -ldflags "-X main.version=v0.1.0" (make plugin, make release).
var version = "dev"

// resourceName is what the resource builder asks the API server for.
const resourceName = "oauthclients.tokenator.dev"

// options are what every subcommand shares: kubectl's connection flags, the
// streams and the clock.
type options struct {
	flags   *genericclioptions.ConfigFlags
	streams genericiooptions.IOStreams
	now     func() time.Time
}

// newRootCommand builds `kubectl tokenator` writing to streams.
func newRootCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &options{flags: genericclioptions.NewConfigFlags(true), streams: streams, now: time.Now}
	root := &cobra.Command{
		// The binary's name: the completion scripts are for it.
		Use:   "kubectl-tokenator",
		Short: "See and renew the tokens tokenator keeps in Secrets",
		Long: "kubectl tokenator shows the state of OAuthClients and ClusterOAuthProviders, asks for new\n" +
			"tokens, suspends and resumes OAuthClients, tells what a token says (its claims and expiry)\n" +
			"without ever showing the token, and checks that tokenator is ready.",
		SilenceUsage:  true,
		SilenceErrors: true,
		Annotations: map[string]string{
			// kubectl shows "kubectl tokenator" in the help of a plugin.
			cobra.CommandDisplayNameAnnotation: "kubectl tokenator",
		},
	}
	// completion (bash, zsh, fish and kubectl) replaces cobra's default
	// command, which has no script for kubectl's plugin completion.
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	o.flags.AddFlags(root.PersistentFlags())
	root.AddCommand(newStatusCommand(o), newRenewCommand(o), newInspectCommand(o),
		newSuspendCommand(o, true), newSuspendCommand(o, false), newCheckCommand(o),
		newCompletionCommand(streams), newVersionCommand(o))
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fmt.Errorf("%w\nSee '%s --help'", err, c.CommandPath())
	})
	return root
}

// execute runs cmd and prints its error as kubectl does ("error: ...") on
// the error stream.
func execute(ctx context.Context, cmd *cobra.Command, streams genericiooptions.IOStreams) error {
	err := cmd.ExecuteContext(ctx)
	if err != nil {
		fmt.Fprintf(streams.ErrOut, "error: %v\n", err)
	}
	return err
}

// namespace is the namespace of -n, else the kubeconfig context's.
func (o *options) namespace() (string, error) {
	ns, _, err := o.flags.ToRawKubeConfigLoader().Namespace()
	return ns, err
}

// builder returns a resource builder for OAuthClients, as unstructured objects.
func (o *options) builder() *resource.Builder {
	return resource.NewBuilder(o.flags).Unstructured()
}

// clientset returns a client of the built-in types.
func (o *options) clientset() (kubernetes.Interface, error) {
	cfg, err := o.flags.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}

// versionInfo is what version -o json|yaml prints, in the shape of kubectl
// version's clientVersion.
type versionInfo struct {
	ClientVersion clientVersion `json:"clientVersion"`
}

type clientVersion struct {
	GitVersion string `json:"gitVersion"`
	GoVersion  string `json:"goVersion"`
	Compiler   string `json:"compiler"`
	Platform   string `json:"platform"`
}

func newVersionCommand(o *options) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the plugin's version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			v := clientVersion{GitVersion: version, GoVersion: runtime.Version(), Compiler: runtime.Compiler,
				Platform: runtime.GOOS + "/" + runtime.GOARCH}
			if output != "" {
				return printData(o.streams.Out, output, versionInfo{ClientVersion: v})
			}
			_, err := fmt.Fprintf(o.streams.Out, "kubectl-tokenator %s (%s, %s)\n", v.GitVersion, v.GoVersion, v.Platform)
			return err
		},
	}
	addDataOutputFlag(cmd, &output)
	return cmd
}
