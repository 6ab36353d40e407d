package oauthtest

import (
	"net"
	"sync"
)

// switchListener is a net.Listener that can stop listening (so that the port
// refuses connections) and listen again on the same address, while the
// http.Server that serves it keeps running.
type switchListener struct {
	addr net.Addr

	mu      sync.Mutex
	inner   net.Listener // nil while down
	closed  bool
	changed chan struct{} // closed, and replaced, on every change of state
	accepts int
}

func newSwitchListener(l net.Listener) *switchListener {
	return &switchListener{addr: l.Addr(), inner: l, changed: make(chan struct{})}
}

// Accept waits for a connection; while the listener is down it waits until
// it is up again or closed.
func (l *switchListener) Accept() (net.Conn, error) {
	for {
		l.mu.Lock()
		inner, closed, changed := l.inner, l.closed, l.changed
		l.mu.Unlock()
		if closed {
			return nil, net.ErrClosed
		}
		if inner == nil {
			<-changed
			continue
		}
		c, err := inner.Accept()
		l.mu.Lock()
		swapped := l.inner != inner || l.closed
		if err == nil {
			l.accepts++
		}
		l.mu.Unlock()
		if err == nil {
			return c, nil
		}
		if !swapped {
			return nil, err
		}
		// Down (or Close) closed inner under our feet: look again.
	}
}

func (l *switchListener) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	var err error
	if l.inner != nil {
		err = l.inner.Close()
		l.inner = nil
	}
	l.signal()
	return err
}

func (l *switchListener) Addr() net.Addr { return l.addr }

// down closes the listening socket; connections to the address are refused.
func (l *switchListener) down() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.inner == nil {
		return
	}
	_ = l.inner.Close()
	l.inner = nil
	l.signal()
}

// up listens on the address again.
func (l *switchListener) up() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.inner != nil || l.closed {
		return nil
	}
	inner, err := net.Listen(l.addr.Network(), l.addr.String())
	if err != nil {
		return err
	}
	l.inner = inner
	l.signal()
	return nil
}

func (l *switchListener) accepted() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.accepts
}

// signal wakes the Accept waiting for a change; l.mu is held.
func (l *switchListener) signal() {
	close(l.changed)
	l.changed = make(chan struct{})
}
