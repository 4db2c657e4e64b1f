package appbackend

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"

	"github.com/appbackend/appbackend/internal/backup"
	"github.com/appbackend/appbackend/internal/certstore"
	"github.com/appbackend/appbackend/internal/setup"
)

// production is what Run starts for the Production settings: the HTTPS listener and
// its certificates, and the backup schedule. Its methods do nothing when unused.
type production struct {
	a        *App
	tm       *certstore.Manager
	httpsLn  net.Listener
	httpsSrv *http.Server

	stopBackups context.CancelFunc
	backups     sync.WaitGroup
}

func (a *App) startProduction(ctx context.Context, ln net.Listener, handler http.Handler) (*production, error) {
	p := &production{a: a}
	if len(a.cfg.Domains) > 0 {
		httpsLn := a.cfg.HTTPSListener
		if httpsLn == nil {
			var err error
			if httpsLn, err = net.Listen("tcp", a.cfg.HTTPSAddr); err != nil {
				return nil, fmt.Errorf("listen on %s: %w", a.cfg.HTTPSAddr, err)
			}
		}
		tm, tlsCfg, err := certstore.StartManager(ctx, certstore.ManagerConfig{
			Archetype: a.archetype, DB: a.db.(certstore.DB), Keys: a.oauth.Keys(),
			Domains: a.cfg.Domains, Directory: a.cfg.ACMEDirectory, Email: a.cfg.ACMEEmail, Roots: a.cfg.ACMERoots,
			RenewalWindowRatio: a.cfg.renewalWindowRatio,
			HTTPPort:           port(ln.Addr()), HTTPSPort: port(httpsLn.Addr()),
		})
		if err != nil {
			httpsLn.Close()
			return nil, err
		}
		p.tm, p.httpsLn = tm, httpsLn
		p.httpsSrv = a.front.HTTPServer(handler)
		p.httpsSrv.TLSConfig = tlsCfg
	}
	if a.cfg.BackupDir != "" {
		_, path, _ := setup.ParseDatabase(a.cfg.Database)
		s := &backup.Scheduler{
			DBPath: path, Dir: a.cfg.BackupDir, Every: a.cfg.BackupEvery, Keep: a.cfg.BackupKeep,
			Settings: a.db, Logger: a.logger,
		}
		bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		p.stopBackups = cancel
		p.backups.Go(func() { s.Run(bctx) })
		a.logger.Info("scheduled backups", "dir", a.cfg.BackupDir, "every", a.cfg.BackupEvery, "keep", a.cfg.BackupKeep)
	}
	return p, nil
}

func port(addr net.Addr) int {
	if tcp, ok := addr.(*net.TCPAddr); ok {
		return tcp.Port
	}
	_, p, _ := net.SplitHostPort(addr.String())
	n, _ := strconv.Atoi(p)
	return n
}

// plainHandler is what the plain-HTTP listener serves: everything, or with HTTPS on,
// ACME challenges, the health checks (for a local probe) and a redirect.
func (p *production) plainHandler(handler http.Handler) http.Handler {
	if p.tm == nil {
		return handler
	}
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", handler)
	mux.Handle("GET /readyz", handler)
	mux.Handle("/", p.tm.RedirectHandler(port(p.httpsLn.Addr())))
	return mux
}

func (p *production) serve(serveErr chan<- error) {
	if p.httpsSrv == nil {
		return
	}
	go func() {
		if err := p.httpsSrv.ServeTLS(p.httpsLn, "", ""); !errors.Is(err, http.ErrServerClosed) {
			serveErr <- fmt.Errorf("https listener: %w", err)
		}
	}()
	p.a.logger.Info("listening", "addr", "https://"+p.httpsLn.Addr().String(), "domains", p.a.cfg.Domains)
}

// shutdownHTTP shuts the listeners down together, each within the HTTP budget.
func (p *production) shutdownHTTP(ctx context.Context, srv *http.Server) {
	front, timeout := p.a.front, p.a.cfg.ShutdownTimeout
	if p.httpsSrv == nil {
		front.Shutdown(ctx, srv, timeout)
		return
	}
	var wg sync.WaitGroup
	wg.Go(func() { front.Shutdown(ctx, srv, timeout) })
	wg.Go(func() { front.Shutdown(ctx, p.httpsSrv, timeout) })
	wg.Wait()
}

// stop ends the backup schedule (a copy in progress is abandoned, its temporary file
// removed) and the certificate maintenance.
func (p *production) stop() {
	if p.stopBackups != nil {
		p.stopBackups()
		p.backups.Wait()
	}
	if p.tm != nil {
		p.tm.Stop()
	}
}
