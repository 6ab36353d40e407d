package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"
)

// addDataOutputFlag adds -o json|yaml to a command that prints a report of
// its own (inspect, version): its shape is in docs/kubectl-plugin.md.
func addDataOutputFlag(cmd *cobra.Command, output *string) {
	cmd.Flags().StringVarP(output, "output", "o", "", "Output format: json or yaml.")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"json", "yaml"}, cobra.ShellCompDirectiveNoFileComp))
}

// checkDataOutput refuses an output format other than json, yaml or none.
func checkDataOutput(output string) error {
	switch output {
	case "", "json", "yaml":
		return nil
	}
	return fmt.Errorf("unknown output format %q: use json or yaml", output)
}

// printData prints v as JSON (indented as kubectl does) or YAML.
func printData(out io.Writer, output string, v any) error {
	if err := checkDataOutput(output); err != nil {
		return err
	}
	var b []byte
	var err error
	if output == "json" {
		if b, err = json.MarshalIndent(v, "", "    "); err == nil {
			b = append(b, '\n')
		}
	} else {
		b, err = yaml.Marshal(v)
	}
	if err != nil {
		return err
	}
	_, err = out.Write(b)
	return err
}

// exitError is an error that ends the plugin with a code other than 1.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// exitCode is the plugin's exit code for the error a command returned.
func exitCode(err error) int {
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	return 1
}
