// Package kcm runs kube-controller-manager against an envtest control plane,
// with the controllers that delete what Kubernetes deletes on a real cluster:
// the garbage collector (objects whose owners are gone) and the namespace
// controller (the content of a deleted namespace).
package kcm

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/tokenator-dev/tokenator/internal/testutil"
)

// Binary is the file name of kube-controller-manager in KUBEBUILDER_ASSETS.
const Binary = "kube-controller-manager"

// Controllers are the controllers it runs. The service account controllers
// are left out: the suites authenticate with certificates, not with
// ServiceAccount token Secrets.
var Controllers = []string{"garbagecollector", "namespace"}

// ErrNotBuilt is returned when KUBEBUILDER_ASSETS holds no kube-controller-manager.
var ErrNotBuilt = errors.New("no kube-controller-manager in KUBEBUILDER_ASSETS: " +
	"hack/build-control-plane.sh DIR kube-controller-manager builds it from the pinned modules (make controller-manager)")

// synced is what the garbage collector logs once it watches every resource.
const synced = "all resource monitors have synced"

// Path returns where kube-controller-manager is expected: next to the API
// server in KUBEBUILDER_ASSETS.
func Path() string {
	return filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), Binary)
}

// Available reports whether the binary is there.
func Available() bool {
	st, err := os.Stat(Path())
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// Process is a running kube-controller-manager.
type Process struct {
	cmd  *exec.Cmd
	dir  string
	out  testutil.SyncBuffer
	done chan struct{}
	err  error
}

// Start runs kube-controller-manager against env's API server, as a member of
// system:masters, and waits until its garbage collector watches every
// resource the API server serves (the CRDs installed before Start included).
func Start(env *envtest.Environment, timeout time.Duration) (*Process, error) {
	if !Available() {
		return nil, ErrNotBuilt
	}
	user, err := env.AddUser(envtest.User{Name: "kube-controller-manager", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, fmt.Errorf("creating the kube-controller-manager user: %w", err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "tokenator-kcm-")
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(path, kubeconfig, 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	p := &Process{dir: dir, done: make(chan struct{})}
	p.cmd = exec.Command(Path(),
		"--kubeconfig="+path,
		"--controllers="+strings.Join(Controllers, ","),
		// One instance, acting with its own credentials.
		"--leader-elect=false",
		"--use-service-account-credentials=false",
		// No serving: nothing scrapes or probes it.
		"--secure-port=0",
		"--v=2",
	)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("starting kube-controller-manager: %w", err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	deadline := time.After(timeout)
	for !strings.Contains(p.out.String(), synced) {
		select {
		case <-p.done:
			os.RemoveAll(dir)
			return nil, fmt.Errorf("kube-controller-manager exited: %v\n%s", p.err, p.tail())
		case <-deadline:
			p.Stop()
			return nil, fmt.Errorf("kube-controller-manager: the garbage collector did not sync within %s\n%s", timeout, p.tail())
		case <-time.After(100 * time.Millisecond):
		}
	}
	return p, nil
}

// Output returns what it logged so far.
func (p *Process) Output() string { return p.out.String() }

func (p *Process) tail() string {
	out := p.out.String()
	return out[max(0, len(out)-4096):]
}

// Stop ends it (SIGTERM, then SIGKILL after 10 seconds) and removes its
// kubeconfig.
func (p *Process) Stop() {
	defer os.RemoveAll(p.dir)
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}
