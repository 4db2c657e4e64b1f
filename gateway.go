package appbackend

import (
	"context"
	"fmt"

	"github.com/appbackend/appbackend/internal/gateway"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/stripeclient"
)

// The gateway (Config.Gateway) is the service gateway.Service; the App only builds
// it, hands it what it needs and mounts it: the proxy behind the signed routes
// (signedRoutes), the event delivery, the upstream's job worker and the upstream API's
// listener (Run).

// newGateway builds the gateway service when an upstream is set, and registers the
// config file's schedules (New, before any other registration can take their names).
func (a *App) newGateway() error {
	g := a.cfg.Gateway
	if g.Upstream == "" {
		return nil
	}
	schedules := make([]gateway.Schedule, len(g.Schedules))
	for i, s := range g.Schedules {
		schedules[i] = gateway.Schedule(s)
	}
	a.gateway = gateway.NewService(a.archetype, gateway.ServiceConfig{
		Upstream: g.Upstream, Timeout: g.Timeout, EventsPath: g.EventsPath,
		APIAddr: g.APIAddr, APIListener: g.APIListener, MaxBody: a.cfg.MaxBody,
		Schedules: schedules, WriteError: a.writeError,
	})
	if err := a.gateway.RegisterSchedules(a.sched.set); err != nil {
		return fmt.Errorf("%w: appbackend: %w", ErrConfig, err)
	}
	return nil
}

// openGateway opens the gateway once the secrets are known (--dev may have made one)
// and the Stripe clients are built, and registers its job worker.
func (a *App) openGateway() error {
	if a.gateway == nil {
		return nil
	}
	err := a.gateway.Open(gateway.Deps{
		Secret:  a.cfg.Gateway.Secret,
		River:   a.rt.River,
		Clients: a.stripe,
		Stripe:  func(ctx context.Context) (*stripeclient.Client, error) { return a.Stripe(ctx) },
		// The lifecycle is built with event processing, after open.
		InstallationAfter: func(ctx context.Context, ev *store.Event) (store.InstallStatus, bool, error) {
			return a.lifecycle.StatusAfter(ctx, ev)
		},
		Tracing: a.tel,
	})
	if err != nil {
		return fmt.Errorf("%w: APPBACKEND_UPSTREAM_SECRET: %v", ErrConfig, err)
	}
	if err := a.gateway.AddWorkers(a.rt); err != nil {
		return fmt.Errorf("register upstream job worker: %w", err)
	}
	return nil
}

// eventDelivery is the processor's delivery step in gateway mode (events.Config.Deliver),
// nil without an upstream.
func (a *App) eventDelivery() func(ctx context.Context, ev *store.Event) error {
	if a.gateway == nil {
		return nil
	}
	return a.gateway.DeliverEvent
}
