package install

import (
	"database/sql"
	"slices"

	"github.com/riverqueue/river"

	"github.com/appbackend/appbackend/internal/store"
)

// installObject is what an installation keeps of Stripe's App Install object
// (apps.install, the data.object of apps.install.* events and the items of
// GET /v1/apps/installs).
type installObject struct {
	ID                 string   `json:"id"`
	Account            string   `json:"account"`
	App                string   `json:"app"`
	Status             string   `json:"status"`
	AuthCode           string   `json:"auth_code"`
	ApprovalRequired   bool     `json:"approval_required"`
	PermissionsGranted []string `json:"permissions_granted"`
	PermissionsPending []string `json:"permissions_pending"`
}

// applyTo copies the install's id and access into in. A list the object lacks
// (null) is kept as an empty list: the object was seen, and grants nothing there.
func (o *installObject) applyTo(in *store.Installation) {
	if o.ID != "" {
		in.InstallID = o.ID
	}
	in.PermissionsGranted = nonNil(o.PermissionsGranted)
	in.PermissionsPending = nonNil(o.PermissionsPending)
	in.ApprovalRequired = o.ApprovalRequired
}

// sameAccess reports whether in already holds what applyTo would write.
func (o *installObject) sameAccess(in store.Installation) bool {
	return (o.ID == "" || o.ID == in.InstallID) && in.PermissionsGranted != nil && in.PermissionsPending != nil &&
		slices.Equal(nonNil(o.PermissionsGranted), in.PermissionsGranted) &&
		slices.Equal(nonNil(o.PermissionsPending), in.PermissionsPending) &&
		o.ApprovalRequired == in.ApprovalRequired
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return slices.Clone(s)
}

// SetRiverClient gives the Lifecycle the River client to enqueue data removals with
// when it runs outside a River job (a reconciliation called directly); inside a job
// it uses the job's client.
func (l *Lifecycle) SetRiverClient(c *river.Client[*sql.Tx]) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.river = c
}

func (l *Lifecycle) client() *river.Client[*sql.Tx] {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.river
}
