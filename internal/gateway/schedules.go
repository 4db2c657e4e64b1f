package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/appbackend/appbackend/internal/schedule"
)

// RegisterSchedules adds the config file's schedules to set: each run calls the
// upstream. The App calls it in New, before any other registration can take their
// names.
func (s *Service) RegisterSchedules(set *schedule.Set) error {
	for _, sc := range s.cfg.Schedules {
		method, path, err := ParseCall(sc.Call)
		if err != nil {
			return fmt.Errorf("schedule %q: %v", sc.Name, err)
		}
		h := s.scheduleRun(sc.Name, method, path)
		if sc.PerAccount {
			err = set.EveryAccount(sc.Every, sc.Name, h)
		} else {
			err = set.Every(sc.Every, sc.Name, h)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// scheduleBody is what a schedule run POSTs to the upstream.
type scheduleBody struct {
	Schedule  string  `json:"schedule"`
	AccountID *string `json:"account_id"`
	Livemode  *bool   `json:"livemode"`
	Slot      string  `json:"slot"`
	Missed    int     `json:"missed"`
}

func (s *Service) scheduleRun(name, method, path string) schedule.Handler {
	return func(ctx context.Context, run schedule.Run) error {
		body := scheduleBody{Schedule: name, Slot: run.Slot.UTC().Format(time.RFC3339), Missed: run.Missed}
		if run.AccountID != "" {
			account, live := run.AccountID, run.Livemode
			body.AccountID, body.Livemode = &account, &live
		}
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		// The run's job id: unique per run, the same on its retries.
		_, err = s.gw.Deliver(ctx, Call{Method: method, Path: path, ID: "run_" + strconv.FormatInt(run.JobID, 10), Body: raw})
		return err
	}
}
