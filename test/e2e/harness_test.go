//go:build e2e

package e2e

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/tokenator-dev/tokenator/internal/netguard"
	"github.com/tokenator-dev/tokenator/internal/testutil"
)

// The ServiceAccount the shipped manifests run the manager as.
const (
	systemNamespace = "tokenator-system"
	managerUser     = "system:serviceaccount:" + systemNamespace + ":tokenator-controller-manager"
)

var managerGroups = []string{"system:serviceaccounts", "system:serviceaccounts:" + systemNamespace, "system:authenticated"}

// impersonating returns a copy of admin that acts as the manager's ServiceAccount.
func impersonating(admin *rest.Config) *rest.Config {
	cfg := rest.CopyConfig(admin)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: managerUser, Groups: managerGroups}
	return cfg
}

// writeKubeconfig writes a kubeconfig for server that authenticates as admin and
// impersonates the manager's ServiceAccount, so that the manager process has
// exactly the permissions the shipped RBAC gives it.
func writeKubeconfig(dir, name, server string, admin *rest.Config) (string, error) {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["e2e"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: admin.CAData}
	kc.AuthInfos["manager"] = &clientcmdapi.AuthInfo{
		ClientCertificateData: admin.CertData,
		ClientKeyData:         admin.KeyData,
		Impersonate:           managerUser,
		ImpersonateGroups:     managerGroups,
	}
	kc.Contexts["e2e"] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: "manager"}
	kc.CurrentContext = "e2e"
	path := filepath.Join(dir, name)
	return path, clientcmd.WriteToFile(*kc, path)
}

// kustomizeBuild renders a kustomization of the repository.
func kustomizeBuild(dir string) ([]*unstructured.Unstructured, error) {
	bin := os.Getenv("KUSTOMIZE")
	if bin == "" {
		return nil, errors.New("KUSTOMIZE is not set: run `make test-e2e`")
	}
	out, err := exec.Command(bin, "build", filepath.Join(repoRoot, dir)).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %v\n%s", dir, err, out)
	}
	return testutil.DecodeObjects(out)
}

// tcpProxy forwards a loopback port to the API server, and can cut every
// connection and refuse new ones for a while: the API server "goes away".
type tcpProxy struct {
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
}

func startProxy(target string) (*tcpProxy, error) {
	p := &tcpProxy{target: target, conns: map[net.Conn]struct{}{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	return p, nil
}

func (p *tcpProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.forward(c)
		}
	}()
}

func (p *tcpProxy) forward(c net.Conn) {
	upstream, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[upstream] = struct{}{}, struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(upstream, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, upstream); done <- struct{}{} }()
	<-done
	c.Close()
	upstream.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, upstream)
	p.mu.Unlock()
}

// Cut closes the listener and every connection.
func (p *tcpProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
}

// Restore listens again on the same address.
func (p *tcpProxy) Restore() error {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		return err
	}
	p.serve(ln)
	return nil
}

// managerProcess is the manager binary running against the test control plane.
type managerProcess struct {
	name string
	// metricsAddr is where it serves its metrics (HTTPS, --metrics-secure).
	metricsAddr string
	cmd         *exec.Cmd
	out         *testutil.SyncBuffer
	done        chan struct{}
	err         error
}

// startManager runs the manager binary with the e2e timings and debug logging.
func startManager(t *testing.T, name, kubeconfig string) *managerProcess {
	t.Helper()
	m := &managerProcess{name: name, out: &testutil.SyncBuffer{}, done: make(chan struct{}), metricsAddr: testutil.FreeLoopbackAddr(t)}
	m.cmd = exec.Command(managerBinary,
		"--kubeconfig="+kubeconfig,
		"--leader-elect",
		"--leader-election-namespace="+systemNamespace,
		"--metrics-bind-address="+m.metricsAddr,
		"--health-probe-bind-address="+testutil.FreeLoopbackAddr(t),
		"--zap-log-level=debug",
		"--min-request-interval=1s",
		"--retry-base-delay=1s",
		"--retry-max-delay=4s",
		"--token-request-timeout=2s",
		// The token endpoints listen on loopback, which the default list denies.
		"--denied-token-networks="+netguard.FormatNetworks(netguard.Without(netguard.DefaultDeniedNetworks, netguard.LoopbackNetworks...)),
		// A lease that outlasts the API server outage of the test.
		"--leader-elect-lease-duration=30s",
		"--leader-elect-renew-deadline=25s",
		"--leader-elect-retry-period=2s",
	)
	m.cmd.Stdout, m.cmd.Stderr = m.out, m.out
	if err := m.cmd.Start(); err != nil {
		t.Fatalf("starting manager %s: %v", name, err)
	}
	allOutputs.add(m)
	go func() {
		m.err = m.cmd.Wait()
		close(m.done)
	}()
	t.Cleanup(func() {
		m.stop()
		if t.Failed() {
			out := m.out.String()
			t.Logf("manager %s output (last 4 KiB):\n%s", name, out[max(0, len(out)-4096):])
		}
	})
	return m
}

func (m *managerProcess) running() bool {
	select {
	case <-m.done:
		return false
	default:
		return true
	}
}

// stop ends the manager gracefully (SIGTERM) and waits.
func (m *managerProcess) stop() {
	if !m.running() {
		return
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(30 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.done
	}
}

// kill ends the manager at once (SIGKILL): it cannot release its lease.
func (m *managerProcess) kill() {
	_ = m.cmd.Process.Kill()
	<-m.done
}

func (m *managerProcess) isLeader() bool {
	return strings.Contains(m.out.String(), "Successfully acquired lease")
}

// holds reports whether this manager is the holder of the lease identity: each
// manager logs "<identity> became leader" when it acquires the lease.
func (m *managerProcess) holds(identity string) bool {
	return identity != "" && strings.Contains(m.out.String(), identity+" became leader")
}

// outputs collects every manager's output for the leak scan.
type outputs struct {
	mu  sync.Mutex
	all []*managerProcess
}

func (o *outputs) add(m *managerProcess) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.all = append(o.all, m)
}

func (o *outputs) text() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var b strings.Builder
	for _, m := range o.all {
		b.WriteString(m.out.String())
	}
	return b.String()
}

var allOutputs outputs
