// Package testutil holds small helpers shared by the test suites: a buffer
// that several goroutines write to, a decoder of YAML streams, the code blocks
// of Markdown pages, kustomize builds, and the search for leaked secrets.
package testutil

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// SyncBuffer is a bytes.Buffer safe for concurrent writers, such as a logger
// or a child process's output.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// DecodeObjects decodes a stream of YAML (or JSON) documents into objects,
// skipping empty documents.
func DecodeObjects(b []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	var objs []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			return objs, nil
		} else if err != nil {
			return nil, err
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
}

// FreeLoopbackAddr returns a loopback address whose port was free a moment
// ago, for a server that must be told its address before it listens.
func FreeLoopbackAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// FindLeaks looks for every needle (a secret or a token) in every haystack
// (named texts: logs, Events, statuses, metrics) and describes each find
// without the secret itself.
func FindLeaks(needles []string, haystacks map[string]string) []string {
	var leaks []string
	for where, text := range haystacks {
		for _, n := range needles {
			if n != "" && strings.Contains(text, n) {
				leaks = append(leaks, fmt.Sprintf("%s contains a secret of %d characters", where, len(n)))
			}
		}
	}
	sort.Strings(leaks)
	return leaks
}

// ScrapeMetrics gets https://addr/metrics with a bearer token (none when
// token is ""), without checking the server's certificate: the managers of
// the tests serve a self-signed one on loopback, and what the tests check is
// who may read.
func ScrapeMetrics(addr, token string) (status int, body string, err error) {
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // a self-signed certificate on loopback
	}}
	req, err := http.NewRequest(http.MethodGet, "https://"+addr+"/metrics", nil)
	if err != nil {
		return 0, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}
