package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/appbackend/appbackend/internal/certstore"
)

// HTTPSConfig configures the HTTPS listener of APPBACKEND_DOMAIN.
type HTTPSConfig struct {
	// Addr is APPBACKEND_HTTPS_ADDR; Listener, when set, is served instead (tests).
	Addr     string
	Listener net.Listener
	// Plain is the App's plain-HTTP listener, which answers the HTTP-01 challenges and
	// redirects to HTTPS.
	Plain net.Listener
	// Certificates configures the certificates' manager; StartHTTPS fills its ports.
	Certificates certstore.ManagerConfig
}

// HTTPS serves the App over TLS, with certificates obtained and renewed by a
// certstore.Manager. Start it with Front.StartHTTPS; a nil HTTPS (no domain) serves
// nothing and its methods do nothing.
type HTTPS struct {
	front *Front
	tm    *certstore.Manager
	ln    net.Listener
	srv   *http.Server
}

// StartHTTPS listens on cfg's address and starts the certificates' management; handler
// is what the HTTPS listener serves. A taken address fails at once.
func (f *Front) StartHTTPS(ctx context.Context, cfg HTTPSConfig, handler http.Handler) (*HTTPS, error) {
	ln := cfg.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", cfg.Addr); err != nil {
			return nil, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
		}
	}
	mc := cfg.Certificates
	mc.HTTPPort, mc.HTTPSPort = Port(cfg.Plain.Addr()), Port(ln.Addr())
	tm, tlsCfg, err := certstore.StartManager(ctx, mc)
	if err != nil {
		ln.Close()
		return nil, err
	}
	srv := f.HTTPServer(handler)
	srv.TLSConfig = tlsCfg
	return &HTTPS{front: f, tm: tm, ln: ln, srv: srv}, nil
}

// Port is addr's port.
func Port(addr net.Addr) int {
	if tcp, ok := addr.(*net.TCPAddr); ok {
		return tcp.Port
	}
	_, p, _ := net.SplitHostPort(addr.String())
	n, _ := strconv.Atoi(p)
	return n
}

// PlainHandler is what the plain-HTTP listener serves: everything, or with HTTPS on,
// ACME challenges, the health checks (for a local probe) and a redirect.
func (h *HTTPS) PlainHandler(handler http.Handler) http.Handler {
	if h == nil {
		return handler
	}
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", handler)
	mux.Handle("GET /readyz", handler)
	mux.Handle("/", h.tm.RedirectHandler(Port(h.ln.Addr())))
	return mux
}

// Serve serves HTTPS in the background; a failure other than the shutdown goes to
// serveErr. domains are logged with the address.
func (h *HTTPS) Serve(serveErr chan<- error, domains []string) {
	if h == nil {
		return
	}
	go func() {
		if err := h.srv.ServeTLS(h.ln, "", ""); !errors.Is(err, http.ErrServerClosed) {
			serveErr <- fmt.Errorf("https listener: %w", err)
		}
	}()
	h.front.Logger().Info("listening", "addr", "https://"+h.ln.Addr().String(), "domains", domains)
}

// Shutdown shuts the HTTPS listener down within timeout (see Front.Shutdown).
func (h *HTTPS) Shutdown(ctx context.Context, timeout time.Duration) {
	if h == nil {
		return
	}
	h.front.Shutdown(ctx, h.srv, timeout)
}

// Stop ends the certificates' maintenance.
func (h *HTTPS) Stop() {
	if h == nil {
		return
	}
	h.tm.Stop()
}
