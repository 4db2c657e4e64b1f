// Package pubconv hands the root package's conversions of internal values to its
// public types (appbackend.Event, Installation, JobStatus) to the test kit,
// appbackendtest, which reads the store itself. The root sets the functions when it is
// initialised (types.go), so that there is one conversion per type, in the root;
// a caller asserts the result to the public type:
//
//	in := pubconv.Installation(row).(appbackend.Installation)
//
// They are typed any because this package cannot import the root, which imports it.
package pubconv

import (
	"github.com/appbackend/appbackend/internal/jobstatus"
	"github.com/appbackend/appbackend/internal/store"
)

// Set by package appbackend's init.
var (
	Event        func(store.Event) any
	Installation func(store.Installation) any
	JobStatus    func(jobstatus.Status) any
)
