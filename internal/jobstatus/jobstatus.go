// Package jobstatus records who a job was enqueued for, in its River metadata. How a
// job looks from outside (the API, the CLI, the test kit) is appbackend.JobStatusOf.
package jobstatus

import (
	"encoding/json"

	"github.com/riverqueue/river/rivertype"
)

// MetadataKey holds, in a job's River metadata, who enqueued it.
const MetadataKey = "appbackend"

// Owner is the account (and, when known, the mode and user) a job was enqueued for.
type Owner struct {
	AccountID string `json:"account_id"`
	Livemode  *bool  `json:"livemode,omitempty"`
	UserID    string `json:"user_id,omitempty"`
}

// OwnerOf reads the owner Enqueue recorded in a job's metadata; nil for a job enqueued
// for no account (or by something else than Enqueue).
func OwnerOf(job *rivertype.JobRow) *Owner {
	var meta struct {
		Owner *Owner `json:"appbackend"`
	}
	if json.Unmarshal(job.Metadata, &meta) != nil || meta.Owner == nil || meta.Owner.AccountID == "" {
		return nil
	}
	return meta.Owner
}
