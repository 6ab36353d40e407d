// Command kubectl-tokenator is the kubectl plugin of tokenator: `kubectl
// tokenator status`, `renew`, `inspect`, `suspend`, `resume`, `check api`,
// `completion` and `version`. It takes kubectl's
// connection flags (--kubeconfig, --context, -n and the others) and never
// prints a token.
package main

import (
	"context"
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"
)

func main() {
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	if err := execute(context.Background(), newRootCommand(streams), streams); err != nil {
		os.Exit(exitCode(err))
	}
}
