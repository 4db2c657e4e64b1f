package appbackend

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"regexp"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/apierror"
	"github.com/appbackend/appbackend/internal/schedule"
	"github.com/appbackend/appbackend/internal/store"
)

// filled returns a T whose every field holds a distinct non-zero value, so that a
// conversion that forgets a field shows.
func filled[T any](t *testing.T) T {
	t.Helper()
	var v T
	rv := reflect.ValueOf(&v).Elem()
	base := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	for i := range rv.NumField() {
		f, name := rv.Field(i), rv.Type().Field(i).Name
		switch {
		case f.Type() == reflect.TypeFor[time.Time]():
			f.Set(reflect.ValueOf(base.Add(time.Duration(i) * time.Hour)))
		case f.Type() == reflect.TypeFor[*time.Time]():
			at := base.Add(time.Duration(i) * time.Minute)
			f.Set(reflect.ValueOf(&at))
		case f.Type() == reflect.TypeFor[json.RawMessage]():
			f.Set(reflect.ValueOf(json.RawMessage(`{"field":"` + name + `"}`)))
		case f.Kind() == reflect.String:
			f.SetString(name)
		case f.Kind() == reflect.Bool:
			f.SetBool(true)
		case f.Kind() == reflect.Int, f.Kind() == reflect.Int64:
			f.SetInt(int64(i + 1))
		case f.Type() == reflect.TypeFor[*string]():
			s := name
			f.Set(reflect.ValueOf(&s))
		case f.Type() == reflect.TypeFor[[]byte]():
			f.SetBytes([]byte(`{"data":{"object":{"id":"` + name + `"}}}`))
		case f.Type() == reflect.TypeFor[[]string]():
			f.Set(reflect.ValueOf([]string{name + "_a", name + "_b"}))
		default:
			require.Failf(t, "filled: no value: teach the test its type", "for %s %s", name, f.Type())
		}
	}
	return v
}

// requireSameFields checks that want and got, of an internal type and its public
// twin, have the same field names and the same values in them.
func requireSameFields(t *testing.T, want, got any) {
	t.Helper()
	w, g := reflect.ValueOf(want), reflect.ValueOf(got)
	var wantNames, gotNames []string
	for i := range w.NumField() {
		wantNames = append(wantNames, w.Type().Field(i).Name)
	}
	for i := range g.NumField() {
		gotNames = append(gotNames, g.Type().Field(i).Name)
	}
	require.ElementsMatch(t, wantNames, gotNames, "%s and %s have different fields", w.Type(), g.Type())
	for _, name := range wantNames {
		require.Equal(t, fmt.Sprintf("%v", w.FieldByName(name).Interface()), fmt.Sprintf("%v", g.FieldByName(name).Interface()),
			"%s.%s", g.Type(), name)
	}
}

// TestConversionsCopyEveryField fails when a field is added to an internal type or
// its public twin and the conversion in types.go does not carry it.
func TestConversionsCopyEveryField(t *testing.T) {
	t.Parallel()

	t.Run("Event", func(t *testing.T) {
		t.Parallel()
		in := filled[store.Event](t)
		out := eventFromStore(in)
		requireSameFields(t, in, out)
		require.Equal(t, in, out.store(), "Event.store is not the inverse of eventFromStore")
	})
	t.Run("Installation", func(t *testing.T) {
		t.Parallel()
		in := filled[store.Installation](t)
		out := installationFromStore(in)
		requireSameFields(t, in, out)
		require.Equal(t, in, out.store(), "Installation.store is not the inverse of installationFromStore")
		require.Equal(t, []Installation{out}, installationsFromStore([]store.Installation{in}))
		require.Nil(t, installationsFromStore(nil))
	})
	t.Run("Run", func(t *testing.T) {
		t.Parallel()
		in := filled[schedule.Run](t)
		requireSameFields(t, in, runFromSchedule(in))
	})
}

// TestJobStatusOf pins the JSON of a job's status (GET /api/jobs/{id}, `appbackend
// jobs --json`, the test kit's WaitForJob): the owner's account, UTC times, scrubbed
// errors, the recorded output; [] and null for a job that has neither.
func TestJobStatusOf(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.FixedZone("CET", 3600))
	attempted := at.Add(time.Minute)
	job := &rivertype.JobRow{
		ID: 12, Kind: "export", Queue: "default", State: rivertype.JobStateCompleted, Attempt: 2, MaxAttempts: 8,
		CreatedAt: at, ScheduledAt: at, AttemptedAt: &attempted, FinalizedAt: &attempted,
		Metadata: []byte(`{"appbackend":{"account_id":"acct_1","user_id":"usr_1"},"output":{"rows":3}}`),
		Errors:   []rivertype.AttemptError{{Attempt: 1, At: at, Error: "calling with sk_test_123abc failed", Trace: "goroutine 1"}},
	}
	got, err := json.Marshal(JobStatusOf(job))
	require.NoError(t, err)
	require.JSONEq(t, `{"id":12,"kind":"export","queue":"default","state":"completed","attempts":2,
		"max_attempts":8,"account_id":"acct_1","created_at":"2026-12-07T09:00:00Z",
		"scheduled_at":"2026-12-07T09:00:00Z","attempted_at":"2026-12-07T09:01:00Z",
		"finalized_at":"2026-12-07T09:01:00Z",
		"errors":[{"attempt":1,"at":"2026-12-07T09:00:00Z","error":"calling with sk_test_[redacted] failed"}],
		"output":{"rows":3}}`, string(got))

	got, err = json.Marshal(JobStatusOf(&rivertype.JobRow{ID: 13, Kind: "k", State: rivertype.JobStateAvailable, CreatedAt: at, ScheduledAt: at}))
	require.NoError(t, err)
	require.JSONEq(t, `{"id":13,"kind":"k","queue":"","state":"available","attempts":0,"max_attempts":0,
		"account_id":null,"created_at":"2026-12-07T09:00:00Z","scheduled_at":"2026-12-07T09:00:00Z",
		"attempted_at":null,"finalized_at":null,"errors":[],"output":null}`, string(got))
}

// TestStatusConstantsAreTheStore's keeps the public constants the values the store
// writes and the wire carries, and the lists complete.
func TestStatusConstantsAreTheStore(t *testing.T) {
	t.Parallel()
	require.Equal(t,
		[]store.EventStatus{store.EventPending, store.EventProcessed, store.EventFailed, store.EventDead},
		[]store.EventStatus{
			store.EventStatus(EventStatusPending), store.EventStatus(EventStatusProcessed),
			store.EventStatus(EventStatusFailed), store.EventStatus(EventStatusDead),
		})
	require.Equal(t,
		[]store.InstallStatus{store.Installed, store.Uninstalled, store.ReauthorizationRequired},
		[]store.InstallStatus{
			store.InstallStatus(InstallStatusInstalled), store.InstallStatus(InstallStatusUninstalled),
			store.InstallStatus(InstallStatusReauthorizationRequired),
		})
}

// TestJSONOfInstallationAndEvent pins the JSON an Installation and an Event marshal to:
// the shape `appbackend installations --json` and `events --json`, the admin API and
// GET /api/installation answer (from the internal types, which the public ones
// marshal through). A change here changes the wire.
func TestJSONOfInstallationAndEvent(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

	t.Run("Installation", func(t *testing.T) {
		t.Parallel()
		full := Installation{
			AccountID: "acct_1", Livemode: true, Status: InstallStatusReauthorizationRequired,
			ApplicationID: "ca_1", DisplayName: "Acme", InstalledAt: at, UninstalledAt: at.Add(time.Hour),
			InstallID: "appinst_1", PermissionsGranted: []string{"invoice_read"},
			PermissionsPending: []string{"invoice_write"}, ApprovalRequired: true,
			LastEventCreated: at, LastEventID: "evt_1", UpdatedAt: at.Add(2 * time.Hour),
		}
		got, err := json.Marshal(full)
		require.NoError(t, err)
		require.JSONEq(t, `{"account_id":"acct_1","livemode":true,"status":"reauthorization_required",
			"installed_at":"2026-12-07T10:00:00Z","uninstalled_at":"2026-12-07T11:00:00Z",
			"application_id":"ca_1","display_name":"Acme","last_event_id":"evt_1",
			"updated_at":"2026-12-07T12:00:00Z","install_id":"appinst_1",
			"permissions_granted":["invoice_read"],"permissions_pending":["invoice_write"],
			"approval_required":true}`, string(got))
		want, err := json.Marshal(full.store())
		require.NoError(t, err)
		require.Equal(t, string(want), string(got), "the public type marshals differently from the internal one")

		got, err = json.Marshal(Installation{AccountID: "acct_2", Status: InstallStatusInstalled, InstalledAt: at, LastEventID: "evt_2", UpdatedAt: at})
		require.NoError(t, err)
		require.JSONEq(t, `{"account_id":"acct_2","livemode":false,"status":"installed",
			"installed_at":"2026-12-07T10:00:00Z","uninstalled_at":null,"application_id":null,
			"display_name":null,"last_event_id":"evt_2","updated_at":"2026-12-07T10:00:00Z",
			"install_id":null,"permissions_granted":[],"permissions_pending":[],
			"approval_required":false}`, string(got))
	})
	t.Run("Event", func(t *testing.T) {
		t.Parallel()
		full := Event{
			ID: "evt_1", Type: "invoice.paid", AccountID: "acct_1", Livemode: true, Created: at,
			APIVersion: "2026-09-30.endive", Raw: []byte(`{"id":"evt_1"}`), Status: EventStatusFailed,
			Attempts: 2, LastError: "boom", NotInstalled: true, ReceivedAt: at.Add(time.Second),
			ProcessedAt: at.Add(time.Minute),
		}
		got, err := json.Marshal(full)
		require.NoError(t, err)
		require.JSONEq(t, `{"id":"evt_1","type":"invoice.paid","account_id":"acct_1","livemode":true,
			"status":"failed","attempts":2,"received_at":"2026-12-07T10:00:01Z",
			"processed_at":"2026-12-07T10:01:00Z","created":"2026-12-07T10:00:00Z",
			"api_version":"2026-09-30.endive","last_error":"boom","not_installed":true}`, string(got))
		want, err := json.Marshal(full.store())
		require.NoError(t, err)
		require.Equal(t, string(want), string(got), "the public type marshals differently from the internal one")

		got, err = json.Marshal(Event{ID: "evt_2", Type: "account.updated", Status: EventStatusPending, Created: at, ReceivedAt: at})
		require.NoError(t, err)
		require.JSONEq(t, `{"id":"evt_2","type":"account.updated","account_id":null,"livemode":false,
			"status":"pending","attempts":0,"received_at":"2026-12-07T10:00:00Z","processed_at":null,
			"created":"2026-12-07T10:00:00Z","api_version":null,"last_error":null,"not_installed":false}`, string(got))
	})
}

func TestEventDataObject(t *testing.T) {
	t.Parallel()
	ev := Event{ID: "evt_1", Raw: []byte(`{"id":"evt_1","data":{"object":{"id":"in_1","object":"invoice"}}}`)}
	var inv struct{ ID, Object string }
	require.NoError(t, ev.DataObject(&inv))
	require.Equal(t, "in_1", inv.ID)
	require.Equal(t, "invoice", inv.Object)
	require.ErrorContains(t, Event{ID: "evt_2"}.DataObject(&inv), "raw payload not loaded")
}

// TestErrorDocListsEveryField keeps the field list in Error's doc comment whole: Error
// is an alias of apierror.Error (see ErrorCode), whose fields go doc does not show
// under the alias, so the comment lists them.
func TestErrorDocListsEveryField(t *testing.T) {
	t.Parallel()
	f, err := parser.ParseFile(token.NewFileSet(), "errors.go", nil, parser.ParseComments)
	require.NoError(t, err)
	var doc string
	ast.Inspect(f, func(n ast.Node) bool {
		if d, ok := n.(*ast.GenDecl); ok && d.Tok == token.TYPE {
			for _, s := range d.Specs {
				if s.(*ast.TypeSpec).Name.Name == "Error" && d.Doc != nil {
					doc = d.Doc.Text()
				}
			}
		}
		return true
	})
	require.NotEmpty(t, doc, "no doc comment on type Error in errors.go")
	typ := reflect.TypeFor[apierror.Error]()
	for i := range typ.NumField() {
		name := typ.Field(i).Name
		require.Regexp(t, regexp.MustCompile(`(?m)^\t`+name+` +\S`), doc, "Error's doc does not list the field %s", name)
	}
}

// TestErrorCodesAreApierrors keeps the constants of errors.go, spelled out so that go doc
// shows the strings a client sees, the very codes apierror maps to statuses: none
// missing, none mistyped.
func TestErrorCodesAreApierrors(t *testing.T) {
	t.Parallel()
	root := []ErrorCode{
		CodeBadRequest, CodeSignatureMissing, CodeSignatureInvalid, CodeSignatureExpired, CodeUnauthorized,
		CodeCardError, CodeForbidden, CodeRoleRequired, CodeNotFound, CodeMethodNotAllowed, CodeConflict,
		CodeBodyTooLarge, CodeUnprocessable, CodeModeRequired, CodeRateLimited, CodeInternal, CodeStripeError,
		CodeUpstreamUnavailable, CodeUnavailable, CodeUpstreamTimeout,
	}
	require.ElementsMatch(t, apierror.Codes(), root)
	for _, c := range root {
		require.True(t, c.Known(), "%s", c)
	}
}
