package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/rest"
)

// profileEnv is the manager's environment variable that turns its profiling
// endpoint on (cmd/benchprofile.go, built with -tags benchprofile).
const profileEnv = "TOKENATOR_PROFILE_ADDR"

// profileSlice is the length of each CPU profile taken while a phase runs; the
// slices are merged by `go tool pprof` (give it every file).
const profileSlice = 2 * time.Second

// profiler takes CPU profiles of the manager and of kube-apiserver in
// consecutive slices until stopped, and the manager's block, mutex and
// goroutine profiles when stopped.
type profiler struct {
	dir    string
	phase  string
	cancel context.CancelFunc
	wg     sync.WaitGroup
	errs   chan error
}

// startProfiles profiles phase until stop. manager is the manager's profiling
// address (host:port), "" when no manager runs; api is the API server's admin
// config.
func startProfiles(ctx context.Context, dir, phase, manager string, api *rest.Config) (*profiler, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	p := &profiler{dir: dir, phase: phase, cancel: cancel, errs: make(chan error, 2)}
	apiClient, err := rest.HTTPClientFor(api)
	if err != nil {
		cancel()
		return nil, err
	}
	slices := func(name, base string, c *http.Client) {
		defer p.wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			url := fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", base, int(profileSlice.Seconds()))
			path := filepath.Join(dir, fmt.Sprintf("%s-%s-cpu-%03d.pb.gz", phase, name, i))
			// A slice is never cut short: its profile is written when it ends.
			if err := fetch(context.WithoutCancel(ctx), c, url, path); err != nil {
				p.errs <- fmt.Errorf("profiling %s: %w", name, err)
				return
			}
		}
	}
	p.wg.Add(1)
	go slices("apiserver", strings.TrimSuffix(api.Host, "/"), apiClient)
	if manager != "" {
		p.wg.Add(1)
		go slices("manager", "http://"+manager, http.DefaultClient)
	}
	return p, nil
}

// stop ends the CPU profiles and takes the manager's cumulative profiles.
// A nil profiler (no -profile) has nothing to stop.
func (p *profiler) stop(manager string) error {
	if p == nil {
		return nil
	}
	p.cancel()
	p.wg.Wait()
	close(p.errs)
	for err := range p.errs {
		return err
	}
	if manager == "" {
		return nil
	}
	for _, kind := range []string{"block", "mutex", "goroutine", "heap"} {
		path := filepath.Join(p.dir, fmt.Sprintf("%s-manager-%s.pb.gz", p.phase, kind))
		if err := fetch(context.Background(), http.DefaultClient, "http://"+manager+"/debug/pprof/"+kind, path); err != nil {
			return err
		}
	}
	return nil
}

// heap saves the manager's heap profile.
func saveHeap(ctx context.Context, dir, phase, manager string) error {
	return fetch(ctx, http.DefaultClient, "http://"+manager+"/debug/pprof/heap", filepath.Join(dir, phase+"-manager-heap.pb.gz"))
}

func fetch(ctx context.Context, c *http.Client, url, path string) error {
	ctx, cancel := context.WithTimeout(ctx, profileSlice+time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
