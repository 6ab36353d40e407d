// Package netguardtest holds the stubs of the network guard's tests: a DNS
// resolver that answers from memory and a dialer Control that records the
// addresses it is given and connects to none of them, so that a test can
// follow a token request to any address without sending a packet.
package netguardtest

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/net/dns/dnsmessage"
)

// DNS is a DNS server in memory, for a net.Resolver (PreferGo) whose Dial
// returns one end of a pipe: it answers A and AAAA questions from Answer, and
// every name Answer has no address for with NXDOMAIN. No packet leaves the
// process.
type DNS struct {
	// Answer returns the addresses of a name (without the trailing dot). It
	// is called with a lock held, one question at a time.
	Answer func(name string) []netip.Addr

	mu      sync.Mutex
	queries int
}

// Table returns a DNS that answers from table.
func Table(table map[string][]netip.Addr) *DNS {
	return &DNS{Answer: func(name string) []netip.Addr { return table[name] }}
}

// Resolver returns a resolver that asks s.
func (s *DNS) Resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		client, server := net.Pipe()
		go s.serve(server)
		return client, nil
	}}
}

// Queries returns how many questions s was asked.
func (s *DNS) Queries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries
}

// serve answers the length-prefixed DNS messages of a stream connection.
func (s *DNS) serve(c net.Conn) {
	defer c.Close()
	for {
		var n uint16
		if err := binary.Read(c, binary.BigEndian, &n); err != nil {
			return
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(c, buf); err != nil {
			return
		}
		out, err := s.reply(buf)
		if err != nil {
			return
		}
		if err := binary.Write(c, binary.BigEndian, uint16(len(out))); err != nil {
			return
		}
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

func (s *DNS) reply(query []byte) ([]byte, error) {
	var q dnsmessage.Message
	if err := q.Unpack(query); err != nil || len(q.Questions) != 1 {
		return nil, errors.New("bad query")
	}
	question := q.Questions[0]
	name := strings.TrimSuffix(question.Name.String(), ".")
	s.mu.Lock()
	s.queries++
	addrs := s.Answer(name)
	s.mu.Unlock()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: q.Header.ID, Response: true, Authoritative: true, RecursionAvailable: true})
	b.EnableCompression()
	if len(addrs) == 0 {
		b = dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: q.Header.ID, Response: true, Authoritative: true, RCode: dnsmessage.RCodeNameError})
	}
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(question); err != nil {
		return nil, err
	}
	if err := b.StartAnswers(); err != nil {
		return nil, err
	}
	h := dnsmessage.ResourceHeader{Name: question.Name, Class: dnsmessage.ClassINET, TTL: 1}
	for _, a := range addrs {
		var err error
		switch {
		case question.Type == dnsmessage.TypeA && a.Is4():
			err = b.AResource(h, dnsmessage.AResource{A: a.As4()})
		case question.Type == dnsmessage.TypeAAAA && a.Is6():
			err = b.AAAAResource(h, dnsmessage.AAAAResource{AAAA: a.As16()})
		}
		if err != nil {
			return nil, err
		}
	}
	return b.Finish()
}

// ErrNotConnecting is what Recorder.Control returns: the dial stops there.
var ErrNotConnecting = errors.New("stub dialer: not connecting")

// Recorder is the Control of a base dialer: it runs after the guard's check,
// records the address the dialer was about to connect to, and stops the
// connection before it is made.
type Recorder struct {
	mu    sync.Mutex
	addrs []string
}

// Control records address and returns ErrNotConnecting.
func (r *Recorder) Control(_, address string, _ syscall.RawConn) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.addrs = append(r.addrs, address)
	return ErrNotConnecting
}

// Dialed returns the addresses recorded so far, in order.
func (r *Recorder) Dialed() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.addrs...)
}

// Dialer returns a dialer that resolves names with dns and records, without
// connecting, every address it would connect to.
func Dialer(dns *DNS, rec *Recorder) *net.Dialer {
	return &net.Dialer{Resolver: dns.Resolver(), Control: rec.Control}
}
