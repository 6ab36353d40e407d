package main

import (
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// namesShorthand says whether body names a flag by its shorthand, such as
// -A, as a word.
func namesShorthand(body, short string) bool {
	return regexp.MustCompile("(^|[\\s\\[(`])-" + regexp.QuoteMeta(short) + "([\\s\\])`]|$)").MatchString(body)
}

// docs/kubectl-plugin.md has a section per command, headed with its name,
// that shows its synopsis and names each of its own flags.
func TestDocsCoverCommands(t *testing.T) {
	g := NewWithT(t)
	raw, err := os.ReadFile(filepath.Join("..", "..", "docs", "kubectl-plugin.md"))
	g.Expect(err).NotTo(HaveOccurred())
	sections := map[string]string{}
	heading := ""
	for _, l := range strings.Split(string(raw), "\n") {
		if h, ok := strings.CutPrefix(l, "## "); ok {
			heading = h
			continue
		}
		sections[heading] += l + "\n"
	}
	root := newRootCommand(genericiooptions.IOStreams{In: strings.NewReader(""), Out: io.Discard, ErrOut: io.Discard})
	var commands []*cobra.Command
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.Runnable() {
				commands = append(commands, sub)
			}
			walk(sub)
		}
	}
	walk(root)
	g.Expect(len(commands)).To(BeNumerically(">=", 10))
	for _, c := range commands {
		path := strings.TrimPrefix(c.CommandPath(), "kubectl tokenator ")
		body, ok := sections[path]
		if !ok {
			t.Errorf("no section ## %s", path)
			continue
		}
		if !strings.Contains(body, "kubectl tokenator "+path) {
			t.Errorf("section %s: no synopsis `kubectl tokenator %s`", path, path)
		}
		c.LocalNonPersistentFlags().VisitAll(func(f *pflag.Flag) {
			if !strings.Contains(body, "--"+f.Name) && (f.Shorthand == "" || !namesShorthand(body, f.Shorthand)) {
				t.Errorf("section %s: the flag --%s is not named", path, f.Name)
			}
		})
	}
}
