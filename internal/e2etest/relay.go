package e2etest

import (
	"io"
	"net"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// Relay is a loopback address the test holds for the life of the test, in front of a
// server that comes and goes: each connection to it is relayed to the current target.
// A server that must come back at the same address (an upstream stopped and started
// again) sits behind one; restarting it on the port it had would be the race of a port
// let go and bound again, which another process may win. Without a target a
// connection is closed at once, as close as a held address gets to a refused one.
type Relay struct {
	ln net.Listener

	mu     sync.Mutex
	target string
	conns  map[net.Conn]struct{}
}

// NewRelay listens on 127.0.0.1:0 until the test ends.
func NewRelay(t testing.TB) *Relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	r := &Relay{ln: ln, conns: map[net.Conn]struct{}{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go r.relay(c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		r.SetTarget("")
	})
	return r
}

// Addr is the relay's address, 127.0.0.1:PORT.
func (r *Relay) Addr() string { return r.ln.Addr().String() }

// URL is http://Addr.
func (r *Relay) URL() string { return "http://" + r.Addr() }

// SetTarget relays new connections to addr ("" for none) and closes the ones relayed so
// far, as the server they reached is gone or replaced.
func (r *Relay) SetTarget(addr string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.target = addr
	for c := range r.conns {
		c.Close()
		delete(r.conns, c)
	}
}

func (r *Relay) relay(c net.Conn) {
	r.mu.Lock()
	target := r.target
	r.mu.Unlock()
	if target == "" {
		c.Close()
		return
	}
	up, err := net.Dial("tcp", target)
	if err != nil {
		c.Close()
		return
	}
	r.mu.Lock()
	if r.target != target { // replaced while dialling
		r.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	r.conns[c], r.conns[up] = struct{}{}, struct{}{}
	r.mu.Unlock()
	// Either side ending ends both: a client must not keep a connection to a server
	// that is gone.
	var once sync.Once
	closeBoth := func() {
		once.Do(func() {
			c.Close()
			up.Close()
			r.mu.Lock()
			delete(r.conns, c)
			delete(r.conns, up)
			r.mu.Unlock()
		})
	}
	go func() { _, _ = io.Copy(up, c); closeBoth() }()
	_, _ = io.Copy(c, up)
	closeBoth()
}
