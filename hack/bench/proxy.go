package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// reqKey classifies one API request.
type reqKey struct {
	Agent    string // the User-Agent: "tokenator" for the manager
	Verb     string // get list watch create update patch apply delete deletecollection discovery
	Resource string // resource[.group][/subresource]
	Code     int    // HTTP status of the answer; 502 when the API server could not be reached
}

// isWrite tells whether a verb changes state: everything but reads.
func isWrite(verb string) bool {
	switch verb {
	case "get", "list", "watch", "discovery":
		return false
	}
	return true
}

// counts are request counts by key.
type counts map[reqKey]int

// sub returns c - before.
func (c counts) sub(before counts) counts {
	out := counts{}
	for k, v := range c {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// total sums the counts of agent whose verb matches.
func (c counts) total(agent string, match func(verb string) bool) int {
	n := 0
	for k, v := range c {
		if k.Agent == agent && match(k.Verb) {
			n += v
		}
	}
	return n
}

func (c counts) writes(agent string) int { return c.total(agent, isWrite) }

// requests counts the requests of agent but watches and discovery: what one
// reconcile costs the API server.
func (c counts) requests(agent string) int {
	return c.total(agent, func(v string) bool { return v != "watch" && v != "discovery" })
}

func (c counts) reads(agent string) int {
	return c.total(agent, func(v string) bool { return v == "get" || v == "list" })
}

// byVerbResource renders the counts of agent as "verb resource [code]" -> n.
func (c counts) byVerbResource(agent string) map[string]int {
	out := map[string]int{}
	for k, v := range c {
		if k.Agent != agent {
			continue
		}
		name := k.Verb + " " + k.Resource
		if k.Code >= 300 || k.Code == 0 {
			name += fmt.Sprintf(" (%d)", k.Code)
		}
		out[name] += v
	}
	return out
}

// classify names the verb and resource of an API request from its method and path.
func classify(method, path string, query url.Values, contentType string) (verb, resource string) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	var group string
	var rest []string
	switch {
	case len(segs) >= 2 && segs[0] == "api":
		rest = segs[2:]
	case len(segs) >= 3 && segs[0] == "apis":
		group, rest = segs[1], segs[3:]
	}
	if len(rest) == 0 {
		return "discovery", path
	}
	var name, sub string
	if rest[0] == "namespaces" && len(rest) >= 3 {
		rest = rest[2:]
	}
	resource = rest[0]
	if len(rest) > 1 {
		name = rest[1]
	}
	if len(rest) > 2 {
		sub = rest[2]
	}
	if group != "" {
		resource += "." + group
	}
	if sub != "" {
		resource += "/" + sub
	}
	switch method {
	case http.MethodGet, http.MethodHead:
		switch {
		case query.Get("watch") == "true" || query.Get("watch") == "1":
			verb = "watch"
		case name == "":
			verb = "list"
		default:
			verb = "get"
		}
	case http.MethodPost:
		verb = "create"
	case http.MethodPut:
		verb = "update"
	case http.MethodPatch:
		verb = "patch"
		if strings.HasPrefix(contentType, "application/apply-patch") {
			verb = "apply"
		}
	case http.MethodDelete:
		verb = "delete"
		if name == "" {
			verb = "deletecollection"
		}
	default:
		verb = strings.ToLower(method)
	}
	return verb, resource
}

// countingProxy is a TLS reverse proxy on the loopback interface in front of the
// API server. It authenticates upstream with its own credentials (the client
// has none) and counts every request by User-Agent, verb, resource and status.
type countingProxy struct {
	srv   *http.Server
	ln    net.Listener
	caPEM []byte

	mu       sync.Mutex
	counts   counts
	lastSeen map[string]time.Time // agent -> time of its latest non-watch request
	start    time.Time
	// timeline counts each agent's requests (watches aside) per second since
	// start, by "verb resource".
	timeline map[string]map[int64]map[string]int
}

type keyCtx struct{}

// startProxy serves on 127.0.0.1 and forwards to upstream through rt.
func startProxy(upstream *url.URL, rt http.RoundTripper) (*countingProxy, error) {
	cert, caPEM, err := loopbackCert()
	if err != nil {
		return nil, err
	}
	p := &countingProxy{caPEM: caPEM, counts: counts{}, lastSeen: map[string]time.Time{},
		start: time.Now(), timeline: map[string]map[int64]map[string]int{}}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(upstream)
			pr.Out.Host = upstream.Host
		},
		Transport:     rt,
		FlushInterval: -1, // watches stream
		ErrorLog:      log.New(io.Discard, "", 0),
		ModifyResponse: func(resp *http.Response) error {
			if k, ok := resp.Request.Context().Value(keyCtx{}).(reqKey); ok {
				k.Code = resp.StatusCode
				p.add(k)
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if k, ok := r.Context().Value(keyCtx{}).(reqKey); ok {
				k.Code = http.StatusBadGateway
				p.add(k)
			}
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		verb, resource := classify(r.Method, r.URL.Path, r.URL.Query(), r.Header.Get("Content-Type"))
		k := reqKey{Agent: agentOf(r.UserAgent()), Verb: verb, Resource: resource}
		rp.ServeHTTP(w, r.WithContext(contextWithKey(r, k)))
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p.ln = ln
	p.srv = &http.Server{
		Handler:           handler,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	go func() { _ = p.srv.ServeTLS(ln, "", "") }()
	return p, nil
}

func contextWithKey(r *http.Request, k reqKey) context.Context {
	return context.WithValue(r.Context(), keyCtx{}, k)
}

// agentOf shortens a User-Agent to its product name.
func agentOf(ua string) string {
	name, _, _ := strings.Cut(ua, " ")
	name, _, _ = strings.Cut(name, "/")
	if name == "" {
		return "unknown"
	}
	return name
}

func (p *countingProxy) add(k reqKey) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.counts[k]++
	if k.Verb == "watch" {
		return
	}
	now := time.Now()
	p.lastSeen[k.Agent] = now
	secs := p.timeline[k.Agent]
	if secs == nil {
		secs = map[int64]map[string]int{}
		p.timeline[k.Agent] = secs
	}
	sec := int64(now.Sub(p.start) / time.Second)
	if secs[sec] == nil {
		secs[sec] = map[string]int{}
	}
	secs[sec][k.Verb+" "+k.Resource]++
}

// rates returns, for each "verb resource" of agent, the median number of
// requests per second over the whole seconds between from and to. A request
// type held back by a client-side rate limiter shows its QPS there.
func (p *countingProxy) rates(agent string, from, to time.Time) map[string]float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	first := int64(from.Sub(p.start)/time.Second) + 1
	last := int64(to.Sub(p.start)/time.Second) - 1
	if last < first {
		return nil
	}
	perKey := map[string][]int{}
	for sec := first; sec <= last; sec++ {
		for key := range p.timeline[agent][sec] {
			perKey[key] = nil
		}
	}
	for key := range perKey {
		for sec := first; sec <= last; sec++ {
			perKey[key] = append(perKey[key], p.timeline[agent][sec][key])
		}
	}
	out := map[string]float64{}
	for key, xs := range perKey {
		sort.Ints(xs)
		m := float64(xs[len(xs)/2])
		if len(xs)%2 == 0 {
			m = float64(xs[len(xs)/2-1]+xs[len(xs)/2]) / 2
		}
		out[key] = m
	}
	return out
}

// snapshot copies the counts.
func (p *countingProxy) snapshot() counts {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(counts, len(p.counts))
	for k, v := range p.counts {
		out[k] = v
	}
	return out
}

// lastRequest is when agent last sent a request other than a watch.
func (p *countingProxy) lastRequest(agent string) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastSeen[agent]
}

func (p *countingProxy) URL() string { return "https://" + p.ln.Addr().String() }

func (p *countingProxy) Close() { _ = p.srv.Close() }

// loopbackCert makes a self-signed certificate for 127.0.0.1.
func loopbackCert() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "tokenator-bench-proxy"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(48 * time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	return cert, certPEM, err
}

// sortedKeys returns the keys of m, sorted.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
