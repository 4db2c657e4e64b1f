// Package baseservice is what every internal service shares: its logger and its clock.
// The App builds one Archetype from its configuration and hands it to each service it
// composes, so a test that sets the clock or the logger sets it everywhere at once
// (River's baseservice is the model).
package baseservice

import (
	"log/slog"
	"time"
)

// Archetype is the logger and clock of one App, shared by all of its services.
type Archetype struct {
	// Logger receives the service's logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Base is embedded by a service: Init fills it from the App's Archetype.
type Base struct {
	logger *slog.Logger
	now    func() time.Time
}

// Init gives b the archetype's logger and clock, with their defaults filled in; a nil
// archetype gives a discarding logger and the real clock.
func (b *Base) Init(a *Archetype) {
	b.logger, b.now = nil, nil
	if a != nil {
		b.logger, b.now = a.Logger, a.Now
	}
	if b.logger == nil {
		b.logger = slog.New(slog.DiscardHandler)
	}
	if b.now == nil {
		b.now = time.Now
	}
}

// Logger is the service's logger (never nil once Init ran; discarding before).
func (b *Base) Logger() *slog.Logger {
	if b.logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return b.logger
}

// Now is the service's clock (time.Now before Init ran).
func (b *Base) Now() time.Time {
	if b.now == nil {
		return time.Now()
	}
	return b.now()
}
