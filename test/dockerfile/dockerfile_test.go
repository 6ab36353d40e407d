// Package dockerfile checks the Dockerfile without a Docker engine: the manager
// builds from exactly what the Dockerfile copies, with its build command.
package dockerfile

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestManagerBuildsFromTheDockerfileContext(t *testing.T) {
	root := filepath.Join("..", "..")
	f, err := os.Open(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	ctx := t.TempDir()
	var build []string
	var sawBase, sawNonroot bool
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		switch strings.ToUpper(fields[0]) {
		case "FROM":
			sawBase = sawBase || strings.HasPrefix(fields[1], "gcr.io/distroless/static:nonroot")
		case "USER":
			sawNonroot = fields[1] == "65532:65532"
		case "COPY":
			if strings.HasPrefix(fields[1], "--from=") {
				continue
			}
			srcs, dst := fields[1:len(fields)-1], fields[len(fields)-1]
			for _, src := range srcs {
				to := filepath.Join(ctx, dst)
				if strings.HasSuffix(dst, "/") && !strings.HasSuffix(src, "/") {
					to = filepath.Join(ctx, dst, src)
				}
				if out, err := exec.Command("cp", "-r", filepath.Join(root, src), to).CombinedOutput(); err != nil {
					t.Fatalf("COPY %s %s: %v\n%s", src, dst, err, out)
				}
			}
		case "RUN":
			cmd := strings.Join(fields[1:], " ")
			if strings.Contains(cmd, "go build") {
				build = fields[1:]
			}
		}
	}
	if !sawBase || !sawNonroot {
		t.Fatal("the image must be distroless static:nonroot and run as 65532")
	}
	if build == nil {
		t.Fatal("no go build step in the Dockerfile")
	}
	// Drop the ARG-driven GOOS/GOARCH settings; build for this machine.
	script := strings.Join(build, " ")
	script = strings.NewReplacer("GOOS=${TARGETOS:-linux}", "", "GOARCH=${TARGETARCH}", "").Replace(script)
	cmd := exec.Command("sh", "-c", script)
	cmd.Dir = ctx
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	out, err := exec.Command(filepath.Join(ctx, "manager"), "--help").CombinedOutput()
	if !strings.Contains(string(out), "-leader-elect") {
		t.Fatalf("the built manager does not run: %v\n%s", err, out)
	}
}
