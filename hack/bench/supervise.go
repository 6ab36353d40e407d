package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// childEnv marks the process that runs the benchmark and names its work
// directory; without it, the process is the supervisor.
const childEnv = "TOKENATOR_BENCH_WORKDIR"

// prSetChildSubreaper is PR_SET_CHILD_SUBREAPER of prctl(2).
const prSetChildSubreaper = 36

// supervise runs the benchmark in a child process and, once the child has
// exited for whatever reason (success, error, panic, timeout, signal), kills
// every process the child left behind. The supervisor is a child subreaper
// (prctl PR_SET_CHILD_SUBREAPER), so kube-apiserver, etcd and the manager,
// orphaned by the child's exit, are re-parented to it and found by their parent
// pid. backstop is how long the child may run before it is terminated. The work
// directory (the manager binary, its kubeconfig and logs) is removed unless the
// run failed or keep is set.
func supervise(backstop time.Duration, keep bool) int {
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		fmt.Fprintf(os.Stderr, "bench: prctl(PR_SET_CHILD_SUBREAPER): %v; leftovers of a crashed run would not be reaped\n", errno)
	}
	work, cmd, err := startChild()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	err = waitChild(cmd, backstop)

	if n := reapOrphans(); n > 0 {
		fmt.Fprintf(os.Stderr, "bench: killed %d process(es) left behind by the benchmark\n", n)
	}
	if keep || err != nil {
		fmt.Fprintf(os.Stderr, "bench: work directory (manager logs, kubeconfig) kept: %s\n", work)
	} else {
		_ = os.RemoveAll(work)
	}
	return exitCodeOf(err)
}

// startChild starts this program again, as the child that runs the
// benchmark in a new work directory.
func startChild() (work string, cmd *exec.Cmd, err error) {
	exe, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	if work, err = os.MkdirTemp("", "tokenator-bench-"); err != nil {
		return "", nil, err
	}
	cmd = exec.Command(exe, os.Args[1:]...)
	cmd.Env = append(os.Environ(), childEnv+"="+work)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	return work, cmd, nil
}

// waitChild waits for the child to exit, passing it the signals the
// supervisor receives; after backstop it terminates the child, and kills it
// 90 seconds later.
func waitChild(cmd *exec.Cmd, backstop time.Duration) error {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		term := time.NewTimer(backstop)
		defer term.Stop()
		var kill <-chan time.Time
		for {
			select {
			case <-done:
				return
			case s := <-sigs:
				_ = cmd.Process.Signal(s)
			case <-term.C:
				fmt.Fprintf(os.Stderr, "bench: still running after %s: terminating it\n", backstop)
				_ = cmd.Process.Signal(syscall.SIGTERM)
				kill = time.After(90 * time.Second)
			case <-kill:
				_ = cmd.Process.Kill()
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	signal.Stop(sigs)
	return err
}

// exitCodeOf is the supervisor's exit code for the child's exit: the child's
// code, else 2.
func exitCodeOf(err error) int {
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exitErr):
		if code := exitErr.ExitCode(); code > 0 {
			return code
		}
		return 2 // killed by a signal
	default:
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
}

// reapOrphans kills and reaps the processes whose parent is this process, and
// their process groups (the control plane and the manager each lead one). It
// returns how many it found.
func reapOrphans() int {
	found := 0
	for range 20 {
		pids := childrenOf(os.Getpid())
		if len(pids) == 0 {
			return found
		}
		var dirs []string
		for _, pid := range pids {
			found++
			dirs = append(dirs, envtestDirs(pid)...)
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		for _, pid := range pids {
			var ws syscall.WaitStatus
			_, _ = syscall.Wait4(pid, &ws, 0, nil)
		}
		// envtest removes these in Stop, which a crashed child never ran.
		for _, d := range dirs {
			_ = os.RemoveAll(d)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return found
}

// childrenOf lists the pids whose parent is ppid, from /proc.
func childrenOf(ppid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(s[i+1:])
		if len(fields) < 2 {
			continue
		}
		if p, err := strconv.Atoi(fields[1]); err == nil && p == ppid {
			pids = append(pids, pid)
		}
	}
	return pids
}

// envtestDirs returns the temporary directories envtest made for the process:
// etcd's --data-dir and kube-apiserver's --cert-dir.
func envtestDirs(pid int) []string {
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil {
		return nil
	}
	var dirs []string
	for _, arg := range strings.Split(string(raw), "\x00") {
		for _, flag := range []string{"--data-dir=", "--cert-dir="} {
			dir, ok := strings.CutPrefix(arg, flag)
			if ok && filepath.Dir(dir) == filepath.Clean(os.TempDir()) && strings.HasPrefix(filepath.Base(dir), "k8s_test_framework_") {
				dirs = append(dirs, dir)
			}
		}
	}
	return dirs
}
