package oauth_test

import (
	"bufio"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenator-dev/tokenator/internal/oauth"
)

// Hostile token endpoints: whatever they send, a token request ends with an
// error of the right kind, having read a bounded amount, within the request
// timeout. Durations are never asserted; the bounds are on what was written
// before the client hung up.

// maxWrittenBeforeHangUp bounds what a server can write before the client
// closes the connection: the client's read limit plus the loopback socket
// buffers, far below what the endless handlers would write otherwise.
const maxWrittenBeforeHangUp = 64 << 20

// endless is a server that writes until the client goes away, and reports how
// much it wrote. The writes are in chunks of at least 1 KiB (or 1 byte every
// interval when drip is set).
type endless struct {
	written atomic.Int64
	done    chan struct{}
	once    sync.Once
}

func newEndless() *endless { return &endless{done: make(chan struct{})} }

func (e *endless) write(w io.Writer, chunk []byte) bool {
	n, err := w.Write(chunk)
	e.written.Add(int64(n))
	return err == nil
}

func (e *endless) finish() { e.once.Do(func() { close(e.done) }) }

// wait waits for the handler to notice that the client went away.
func (e *endless) wait(t *testing.T) int64 {
	t.Helper()
	select {
	case <-e.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the server is still writing after %d bytes: the client did not hang up", e.written.Load())
	}
	return e.written.Load()
}

// hijack takes over the connection of a TLS test server's request: raw bytes
// then go to the client over TLS.
func hijack(t *testing.T, w http.ResponseWriter) (net.Conn, *bufio.ReadWriter) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		t.Errorf("hijack: %v", err)
		panic(http.ErrAbortHandler)
	}
	return conn, buf
}

// A body that never ends, with or without a declared length, on a success and
// on an error status: the client reads at most the limit, then hangs up.
func TestEndlessBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		status        int
		contentLength string // "" streams chunked
		check         func(t *testing.T, err error)
	}{
		{"200 chunked", 200, "", func(t *testing.T, err error) {
			if !errors.Is(err, oauth.ErrResponseTooLarge) || !strings.Contains(err.Error(), "answered 200 OK with a body over 1048576 bytes") {
				t.Errorf("error = %v, want ErrResponseTooLarge", err)
			}
		}},
		{"200 declared 1 TiB", 200, "1099511627776", func(t *testing.T, err error) {
			if !errors.Is(err, oauth.ErrResponseTooLarge) {
				t.Errorf("error = %v, want ErrResponseTooLarge", err)
			}
		}},
		{"500 chunked", 500, "", func(t *testing.T, err error) {
			if re := mustResponseError(t, err); re.StatusCode != 500 || re.ErrorCode != "" || !strings.HasSuffix(err.Error(), " answered 500 Internal Server Error") || !strings.HasPrefix(err.Error(), "token endpoint https://") {
				t.Errorf("error = %q", err)
			}
		}},
		{"400 JSON error that never ends", 400, "", func(t *testing.T, err error) {
			// The error object is never complete: only the status is reported.
			if re := mustResponseError(t, err); re.StatusCode != 400 || re.ErrorCode != "" {
				t.Errorf("error = %q", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newEndless()
			ts, caPEM := startTLS(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				defer srv.finish()
				w.Header().Set("Content-Type", "application/json")
				if tt.contentLength != "" {
					w.Header().Set("Content-Length", tt.contentLength)
				}
				w.WriteHeader(tt.status)
				chunk := []byte(strings.Repeat(`{"error":"invalid_request","error_description":"`, 1) + strings.Repeat("x", 32<<10))
				if !srv.write(w, chunk) {
					return
				}
				chunk = []byte(strings.Repeat("x", 32<<10))
				for srv.write(w, chunk) {
				}
			}))
			c := clientFor(t, caPEM) // default MaxResponseBytes: 1 MiB
			_, err := requestToken(t, c, request(ts.URL+"/token", "id", "pw"))
			tt.check(t, err)
			written := srv.wait(t)
			t.Logf("server wrote %d bytes; error: %v", written, err)
			if written > maxWrittenBeforeHangUp {
				t.Errorf("the server wrote %d bytes before the client hung up", written)
			}
		})
	}
}

// Response headers that never end, in many lines, in one line, or as
// informational responses one after the other: the client stops at
// oauth.MaxResponseHeaderBytes.
func TestEndlessHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		first string
		next  func(i int) string
	}{
		{"many header lines", "HTTP/1.1 200 OK\r\n", func(i int) string {
			return fmt.Sprintf("X-Flood-%d: %s\r\n", i, strings.Repeat("a", 1000))
		}},
		{"one endless header line", "HTTP/1.1 200 OK\r\nX-Flood: ", func(int) string {
			return strings.Repeat("a", 1024)
		}},
		{"endless status line", "HTTP/1.1 200 ", func(int) string {
			return strings.Repeat("O", 1024)
		}},
		{"endless 103 Early Hints", "", func(int) string {
			return "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newEndless()
			ts, caPEM := startTLS(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				defer srv.finish()
				conn, _ := hijack(t, w)
				defer conn.Close()
				if !srv.write(conn, []byte(tt.first)) {
					return
				}
				for i := 0; ; i++ {
					if !srv.write(conn, []byte(tt.next(i))) {
						return
					}
				}
			}))
			_, err := requestToken(t, clientFor(t, caPEM), request(ts.URL+"/token", "id", "pw"))
			want := fmt.Sprintf("server response headers exceeded %d bytes; aborted", oauth.MaxResponseHeaderBytes)
			if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "requesting token from "+ts.URL+"/token: ") {
				t.Errorf("error = %v, want %q", err, want)
			}
			written := srv.wait(t)
			t.Logf("server wrote %d bytes; error: %v", written, err)
			if written > maxWrittenBeforeHangUp {
				t.Errorf("the server wrote %d bytes before the client hung up", written)
			}
		})
	}
}

// A server that sends one byte every 100ms, of the headers or of the body,
// never finishes in time: the request ends with a timeout, and the server is
// left alone.
func TestSlowDrip(t *testing.T) {
	t.Parallel()
	const drip = 100 * time.Millisecond
	tests := []struct {
		name  string
		start string // sent at once, then the drip
		drip  string // repeated byte by byte
		check func(t *testing.T, url string, err error)
	}{
		{"headers", "HTTP/1.1 200 OK\r\n", "X-Slow: aaaaaaaa\r\n", func(t *testing.T, url string, err error) {
			var netErr net.Error
			if !errors.As(err, &netErr) || !netErr.Timeout() || !strings.HasPrefix(err.Error(), "requesting token from "+url+": ") {
				t.Errorf("error = %v, want a timeout awaiting the headers", err)
			}
		}},
		{"success body", "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{", `"access_token":"a",`, func(t *testing.T, url string, err error) {
			var netErr net.Error
			if !errors.As(err, &netErr) || !netErr.Timeout() || !strings.HasPrefix(err.Error(), "reading token response from "+url+": ") {
				t.Errorf("error = %v, want a timeout reading the body", err)
			}
		}},
		{"chunked success body", "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{\r\n", "1\r\n \r\n", func(t *testing.T, url string, err error) {
			var netErr net.Error
			if !errors.As(err, &netErr) || !netErr.Timeout() || !strings.HasPrefix(err.Error(), "reading token response from "+url+": ") {
				t.Errorf("error = %v, want a timeout reading the body", err)
			}
		}},
		{"error body", "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{", `"error":"x",`, func(t *testing.T, _ string, err error) {
			// The status says enough; the unfinished body is not parsed.
			if re := mustResponseError(t, err); re.StatusCode != 503 || re.ErrorCode != "" {
				t.Errorf("error = %q", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newEndless()
			ts, caPEM := startTLS(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				defer srv.finish()
				conn, _ := hijack(t, w)
				defer conn.Close()
				if !srv.write(conn, []byte(tt.start)) {
					return
				}
				for i := 0; ; i++ {
					time.Sleep(drip)
					if !srv.write(conn, []byte{tt.drip[i%len(tt.drip)]}) {
						return
					}
				}
			}))
			c := &oauth.Client{HTTPClient: httpClient(t, caPEM, time.Second)}
			_, err := requestToken(t, c, request(ts.URL+"/token", "id", "pw"))
			tt.check(t, ts.URL+"/token", err)
			t.Logf("server wrote %d bytes; error: %v", srv.wait(t), err)
		})
	}
}

// Endpoints that never get as far as HTTP: a TCP peer that never answers the
// TLS handshake, and a plain HTTP server behind an https URL.
func TestNoTLS(t *testing.T) {
	t.Parallel()
	t.Run("silent peer", func(t *testing.T) {
		t.Parallel()
		l := listen(t, "127.0.0.1:0")
		go func() {
			for {
				conn, err := l.Accept()
				if err != nil {
					return
				}
				go func() { _, _ = io.Copy(io.Discard, conn); conn.Close() }()
			}
		}()
		c := &oauth.Client{HTTPClient: httpClient(t, nil, 500*time.Millisecond)}
		_, err := requestToken(t, c, request("https://"+l.Addr().String()+"/token", "id", "pw"))
		var netErr net.Error
		if !errors.As(err, &netErr) || !netErr.Timeout() {
			t.Errorf("error = %v, want a timeout", err)
		}
		t.Logf("error: %v", err)
	})
	t.Run("plain HTTP server", func(t *testing.T) {
		t.Parallel()
		var requests atomic.Int32
		ts := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { requests.Add(1) }))
		t.Cleanup(ts.Close)
		url := "https://" + strings.TrimPrefix(ts.URL, "http://") + "/token"
		_, err := requestToken(t, clientFor(t, nil), request(url, "id", "pw"))
		if err == nil || !strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
			t.Errorf("error = %v", err)
		}
		t.Logf("error: %v", err)
		if n := requests.Load(); n != 0 {
			t.Errorf("the plain HTTP server received %d requests (and the credentials)", n)
		}
	})
}

// tcpSink accepts connections and records everything sent to it.
type tcpSink struct {
	l     net.Listener
	mu    sync.Mutex
	conns int
	got   []byte
}

func listen(t *testing.T, addr string) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func newSink(l net.Listener) *tcpSink {
	s := &tcpSink{l: l}
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns++
			s.mu.Unlock()
			go func() {
				defer conn.Close()
				_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
				b, _ := io.ReadAll(conn)
				s.mu.Lock()
				s.got = append(s.got, b...)
				s.mu.Unlock()
			}()
		}
	}()
	return s
}

func (s *tcpSink) received() (int, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns, len(s.got)
}

// Redirects to another host, to plain http or to another port: not followed,
// and the target receives nothing at all, not even a connection, so neither
// the request nor the credentials.
func TestRedirectsElsewhereReceiveNothing(t *testing.T) {
	t.Parallel()
	sinkHere := newSink(listen(t, "127.0.0.1:0"))
	_, port, _ := net.SplitHostPort(sinkHere.l.Addr().String())
	sinks := []*tcpSink{sinkHere}
	targets := []string{
		"http://127.0.0.1:" + port + "/steal",                 // plain http, same host
		"http://localhost:" + port + "/steal?client_secret=s", // plain http, other host name
		"https://localhost:" + port + "/token",                // https, other host name
		"//localhost:" + port + "/token",                      // scheme-relative
	}
	// Another loopback address, where the system has one (Linux routes 127/8).
	if l, err := net.Listen("tcp", "127.0.0.2:0"); err == nil {
		t.Cleanup(func() { l.Close() })
		other := newSink(l)
		sinks = append(sinks, other)
		targets = append(targets, "http://"+l.Addr().String()+"/steal", "https://"+l.Addr().String()+"/token")
	} else {
		t.Logf("no second loopback address: %v", err)
	}

	var originRequests atomic.Int32
	var location atomic.Value
	var status atomic.Int32
	ts, caPEM := startTLS(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		originRequests.Add(1)
		w.Header().Set("Location", location.Load().(string))
		w.WriteHeader(int(status.Load()))
	}))
	// Basic authentication: the Authorization header is what a follow
	// would most readily carry along.
	req := request(ts.URL+"/token", "client-id", "client-secret-value")
	req.ClientAuth = oauth.ClientAuthBasic
	c := clientFor(t, caPEM)
	attempts := 0
	for _, target := range targets {
		for _, code := range []int{301, 302, 303, 307, 308} {
			location.Store(target)
			status.Store(int32(code))
			_, err := requestToken(t, c, req)
			attempts++
			re := mustResponseError(t, err)
			want := fmt.Sprintf("token endpoint %s/token answered %d %s; redirects are not followed", ts.URL, code, http.StatusText(code))
			if re.StatusCode != code || err.Error() != want {
				t.Errorf("redirect %d to %s: error %q, want %q", code, target, err, want)
			}
		}
	}
	if n := int(originRequests.Load()); n != attempts {
		t.Errorf("the origin received %d requests for %d attempts", n, attempts)
	}
	// A follow would have connected before RequestToken returned. Connect
	// once more ourselves, silently: once the sink has accepted this
	// marker, it has accepted every earlier connection too.
	for _, s := range sinks {
		marker, err := net.Dial("tcp", s.l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the marker connection", func() bool { conns, _ := s.received(); return conns > 0 })
		marker.Close()
		if conns, bytes := s.received(); conns != 1 || bytes != 0 {
			t.Errorf("the redirect target %s received %d connections besides the marker and %d bytes", s.l.Addr(), conns-1, bytes)
		}
	}
}

// The same over HTTP/2, which the client negotiates when the server offers
// it: a header block over the limit, and a body that never ends.
func TestHostileHTTP2(t *testing.T) {
	t.Parallel()
	start := func(t *testing.T, h http.HandlerFunc) (*httptest.Server, []byte) {
		ts := httptest.NewUnstartedServer(h)
		ts.EnableHTTP2 = true
		ts.Config.ErrorLog = discardLogger()
		ts.StartTLS()
		t.Cleanup(ts.Close)
		return ts, pemOf(ts)
	}
	t.Run("header block over the limit", func(t *testing.T) {
		t.Parallel()
		var protos sync.Map
		ts, caPEM := start(t, func(w http.ResponseWriter, r *http.Request) {
			protos.Store(r.Proto, true)
			for i := 0; i < 200; i++ {
				w.Header().Set(fmt.Sprintf("X-Flood-%d", i), strings.Repeat("a", 1000))
			}
			w.WriteHeader(200)
		})
		_, err := requestToken(t, clientFor(t, caPEM), request(ts.URL+"/token", "id", "pw"))
		t.Logf("error: %v", err)
		if err == nil || !strings.HasPrefix(err.Error(), "requesting token from "+ts.URL+"/token: ") {
			t.Errorf("error = %v, want a refused response", err)
		}
		if _, ok := protos.Load("HTTP/2.0"); !ok {
			t.Error("the request did not use HTTP/2")
		}
	})
	t.Run("endless body", func(t *testing.T) {
		t.Parallel()
		srv := newEndless()
		ts, caPEM := start(t, func(w http.ResponseWriter, r *http.Request) {
			defer srv.finish()
			if r.ProtoMajor != 2 {
				t.Errorf("request over %s", r.Proto)
			}
			w.Header().Set("Content-Type", "application/json")
			chunk := []byte(strings.Repeat("x", 32<<10))
			for srv.write(w, chunk) {
			}
		})
		_, err := requestToken(t, clientFor(t, caPEM), request(ts.URL+"/token", "id", "pw"))
		if !errors.Is(err, oauth.ErrResponseTooLarge) {
			t.Errorf("error = %v, want ErrResponseTooLarge", err)
		}
		written := srv.wait(t)
		t.Logf("server wrote %d bytes; error: %v", written, err)
		if written > maxWrittenBeforeHangUp {
			t.Errorf("the server wrote %d bytes before the client hung up", written)
		}
	})
}

func pemOf(ts *httptest.Server) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw})
}
