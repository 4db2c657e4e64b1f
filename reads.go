package appbackend

import (
	"context"
	"errors"

	"github.com/appbackend/appbackend/internal/store"
)

// Reads of what appbackend keeps for the app, as the public types. They need the
// database, so they work once Run opened it (in a handler, a hook, a job, or a test
// with appbackendtest), and read outside any transaction (ReadDB).

// Installation returns the app's installation on accountID in a mode, and false if the
// account never installed the app in that mode.
func (a *App) Installation(ctx context.Context, accountID string, livemode bool) (Installation, bool, error) {
	if a.db == nil {
		return Installation{}, false, errors.New("appbackend: Installation before Run")
	}
	in, err := a.db.Installation(ctx, accountID, livemode)
	if errors.Is(err, store.ErrNotFound) {
		return Installation{}, false, nil
	}
	if err != nil {
		return Installation{}, false, err
	}
	return installationFromStore(in), true, nil
}

// Event returns the event with id as the inbox holds it (its Status, Attempts,
// LastError, Raw, …), and false if no such event was received or it was pruned after
// the retention.
func (a *App) Event(ctx context.Context, id string) (Event, bool, error) {
	if a.db == nil {
		return Event{}, false, errors.New("appbackend: Event before Run")
	}
	ev, err := a.db.Event(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Event{}, false, nil
	}
	if err != nil {
		return Event{}, false, err
	}
	return eventFromStore(ev), true, nil
}
