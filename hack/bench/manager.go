package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tokenator-dev/tokenator/internal/netguard"
)

// managerProc is one run of the manager binary.
type managerProc struct {
	cmd         *exec.Cmd
	started     time.Time
	metricsAddr string // host:port, or "" when the metrics endpoint is off
	profileAddr string // host:port of the profiling endpoint, or "" when off
	logs        *logWatcher
	done        chan struct{} // closed when the process has exited
	exitErr     error
}

// managerOptions are the manager's command line and environment.
type managerOptions struct {
	binary      string
	kubeconfig  string
	caFile      string // the token endpoint's CA, as SSL_CERT_FILE
	logPath     string
	concurrency int
	qps         float64
	burst       int
	metrics     bool // serve metrics on a loopback port
	profile     bool // serve net/http/pprof on a loopback port (a -tags benchprofile build)
	echoLogs    bool
}

// startManager starts the manager in a process group of its own.
func startManager(o managerOptions) (*managerProc, error) {
	metricsAddr := "0"
	if o.metrics {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		metricsAddr = fmt.Sprintf("127.0.0.1:%d", port)
	}
	args := []string{
		"--kubeconfig=" + o.kubeconfig,
		"--metrics-bind-address=" + metricsAddr,
		"--metrics-secure=false", // scraped over plain HTTP on loopback
		"--health-probe-bind-address=0",
		"--concurrent-reconciles=" + strconv.Itoa(o.concurrency),
		// The token endpoint listens on loopback, which the default list denies.
		"--denied-token-networks=" + netguard.FormatNetworks(netguard.Without(netguard.DefaultDeniedNetworks, netguard.LoopbackNetworks...)),
	}
	if o.qps > 0 {
		args = append(args, "--kube-api-qps="+strconv.FormatFloat(o.qps, 'f', -1, 64), "--kube-api-burst="+strconv.Itoa(o.burst))
	}
	logFile, err := os.Create(o.logPath)
	if err != nil {
		return nil, err
	}
	var echo io.Writer
	if o.echoLogs {
		echo = os.Stderr
	}
	lw := newLogWatcher(logFile, echo)
	cmd := exec.Command(o.binary, args...)
	cmd.Env = managerEnv(o.kubeconfig, o.caFile)
	cmd.Stdout, cmd.Stderr = lw, lw
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	m := &managerProc{cmd: cmd, logs: lw, done: make(chan struct{})}
	if o.profile {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		m.profileAddr = fmt.Sprintf("127.0.0.1:%d", port)
		cmd.Env = append(cmd.Env, profileEnv+"="+m.profileAddr)
	}
	if o.metrics {
		m.metricsAddr = metricsAddr
	}
	m.started = time.Now()
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("starting the manager: %w", err)
	}
	go func() {
		m.exitErr = cmd.Wait()
		lw.flush()
		_ = logFile.Close()
		close(m.done)
	}()
	return m, nil
}

// managerEnv is the bench's environment with the manager's kubeconfig, the
// token endpoint's CA as the only system root, and no HTTP proxy.
func managerEnv(kubeconfig, caFile string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(name) {
		case "KUBECONFIG", "SSL_CERT_FILE", "SSL_CERT_DIR", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", childEnv, profileEnv:
			continue
		}
		env = append(env, kv)
	}
	return append(env, "KUBECONFIG="+kubeconfig, "SSL_CERT_FILE="+caFile)
}

func (m *managerProc) pid() int { return m.cmd.Process.Pid }

func (m *managerProc) alive() bool {
	select {
	case <-m.done:
		return false
	default:
		return true
	}
}

// waitWorkers waits for the controller's "Starting workers" log line and
// returns when it was seen.
func (m *managerProc) waitWorkers(ctx context.Context, timeout time.Duration) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	select {
	case <-m.logs.workers:
		return m.logs.workersAt, nil
	case <-m.done:
		return time.Time{}, fmt.Errorf("the manager exited before starting its workers: %v (see %s)", m.exitErr, m.logs.path())
	case <-ctx.Done():
		return time.Time{}, fmt.Errorf("the manager did not start its workers within %s (see %s)", timeout, m.logs.path())
	}
}

// stop sends sig, waits up to 20s, then kills the process group.
func (m *managerProc) stop(sig syscall.Signal) {
	if !m.alive() {
		return
	}
	_ = syscall.Kill(m.pid(), sig)
	select {
	case <-m.done:
		return
	case <-time.After(20 * time.Second):
	}
	_ = syscall.Kill(-m.pid(), syscall.SIGKILL)
	_ = m.cmd.Process.Kill()
	<-m.done
}

// memory is read from /proc/<pid>/status, in KiB.
type memory struct {
	HWM, RSS int64
}

func (m *managerProc) memory() (memory, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", m.pid()))
	if err != nil {
		return memory{}, err
	}
	var mem memory
	for _, line := range strings.Split(string(data), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		switch name {
		case "VmHWM":
			mem.HWM = kb
		case "VmRSS":
			mem.RSS = kb
		}
	}
	if mem.HWM == 0 {
		return mem, fmt.Errorf("no VmHWM in /proc/%d/status", m.pid())
	}
	return mem, nil
}

// scrape reads the manager's metrics endpoint.
func (m *managerProc) scrape(ctx context.Context) (metricSamples, error) {
	if m.metricsAddr == "" {
		return nil, fmt.Errorf("the metrics endpoint is off")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+m.metricsAddr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics: %s", resp.Status)
	}
	return parseMetrics(resp.Body)
}

// metricSamples maps "name{labels}" to the sample value.
type metricSamples map[string]float64

// parseMetrics reads the Prometheus text format, without timestamps.
func parseMetrics(r io.Reader) (metricSamples, error) {
	out := metricSamples{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	return out, sc.Err()
}

// sum adds the samples of the metric name whose labels contain every one of
// labels (each like `controller="oauthclient"`).
func (s metricSamples) sum(name string, labels ...string) float64 {
	total := 0.0
	for series, v := range s {
		base, lbls, _ := strings.Cut(series, "{")
		if base != name {
			continue
		}
		ok := true
		for _, l := range labels {
			if !strings.Contains(lbls, l) {
				ok = false
				break
			}
		}
		if ok {
			total += v
		}
	}
	return total
}

// logWatcher writes the manager's output to a file and notices the lines the
// benchmark waits for.
type logWatcher struct {
	mu        sync.Mutex
	file      *os.File
	echo      io.Writer
	partial   []byte
	workers   chan struct{}
	workersAt time.Time
	issued    atomic.Int64 // "Token issued" lines
	failed    atomic.Int64 // "Token request failed" lines
	errors    atomic.Int64 // lines at level error
}

func newLogWatcher(f *os.File, echo io.Writer) *logWatcher {
	return &logWatcher{file: f, echo: echo, workers: make(chan struct{})}
}

func (l *logWatcher) path() string { return l.file.Name() }

func (l *logWatcher) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = l.file.Write(p)
	if l.echo != nil {
		_, _ = l.echo.Write(p)
	}
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.line(string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
	return len(p), nil
}

func (l *logWatcher) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.partial) > 0 {
		l.line(string(l.partial))
		l.partial = nil
	}
}

// line is called with l.mu held.
func (l *logWatcher) line(s string) {
	switch {
	case strings.Contains(s, `"Token issued"`):
		l.issued.Add(1)
	case strings.Contains(s, `"Token request failed"`):
		l.failed.Add(1)
	case strings.Contains(s, "Starting workers") && strings.Contains(s, "oauthclient"):
		select {
		case <-l.workers:
		default:
			l.workersAt = time.Now()
			close(l.workers)
		}
	}
	if strings.Contains(s, `"level":"error"`) {
		l.errors.Add(1)
	}
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
