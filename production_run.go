package appbackend

import (
	"context"
	"net"
	"net/http"
	"sync"

	"github.com/appbackend/appbackend/internal/backup"
	"github.com/appbackend/appbackend/internal/certstore"
	"github.com/appbackend/appbackend/internal/server"
	"github.com/appbackend/appbackend/internal/setup"
)

// production is what Run starts for the Production settings: the HTTPS listener and
// its certificates (server.HTTPS), and the backup schedule. Its methods do nothing
// when unused.
type production struct {
	a     *App
	https *server.HTTPS // nil without Domains

	stopBackups context.CancelFunc
	backups     sync.WaitGroup
}

func (a *App) startProduction(ctx context.Context, ln net.Listener, handler http.Handler) (*production, error) {
	p := &production{a: a}
	if len(a.cfg.Domains) > 0 {
		https, err := a.front.StartHTTPS(ctx, server.HTTPSConfig{
			Addr: a.cfg.HTTPSAddr, Listener: a.cfg.HTTPSListener, Plain: ln,
			Certificates: certstore.ManagerConfig{
				Archetype: a.archetype, DB: a.db.(certstore.DB), Keys: a.oauth.Keys(),
				Domains: a.cfg.Domains, Directory: a.cfg.ACMEDirectory, Email: a.cfg.ACMEEmail, Roots: a.cfg.ACMERoots,
				RenewalWindowRatio: a.cfg.renewalWindowRatio,
			},
		}, handler)
		if err != nil {
			return nil, err
		}
		p.https = https
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

// plainHandler is what the plain-HTTP listener serves (see server.HTTPS.PlainHandler).
func (p *production) plainHandler(handler http.Handler) http.Handler {
	return p.https.PlainHandler(handler)
}

func (p *production) serve(serveErr chan<- error) { p.https.Serve(serveErr, p.a.cfg.Domains) }

// shutdownHTTP shuts the listeners down together, each within the HTTP budget.
func (p *production) shutdownHTTP(ctx context.Context, srv *http.Server) {
	front, timeout := p.a.front, p.a.cfg.ShutdownTimeout
	if p.https == nil {
		front.Shutdown(ctx, srv, timeout)
		return
	}
	var wg sync.WaitGroup
	wg.Go(func() { front.Shutdown(ctx, srv, timeout) })
	wg.Go(func() { p.https.Shutdown(ctx, timeout) })
	wg.Wait()
}

// stop ends the backup schedule (a copy in progress is abandoned, its temporary file
// removed) and the certificate maintenance.
func (p *production) stop() {
	if p.stopBackups != nil {
		p.stopBackups()
		p.backups.Wait()
	}
	p.https.Stop()
}
