package appbackend

import (
	"fmt"
	"os"

	"github.com/appbackend/appbackend/internal/alert"
)

// openAlerts builds the notifier of APPBACKEND_ALERT_URL (nil without it: its
// methods then do nothing).
func (a *App) openAlerts() error {
	if a.cfg.AlertURL == "" {
		return nil
	}
	host, _ := os.Hostname()
	n, err := alert.New(alert.Config{URL: a.cfg.AlertURL, Secret: a.cfg.AlertSecret, Source: host, Archetype: a.archetype})
	if err != nil {
		return fmt.Errorf("%w: %v", ErrConfig, err)
	}
	a.alerts = n
	return nil
}
