package stripeclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/appbackend/appbackend/internal/apierror"
)

// InstalledModesFunc reports the modes in which the app is installed on an account; the
// façade passes the installation store's answer.
type InstalledModesFunc func(ctx context.Context, accountID string) (live, test bool, err error)

// modeRequiredMessage tells the app developer how to make the mode explicit.
const modeRequiredMessage = "cannot tell whether this request is for live or test mode: " +
	"sign it with a boolean livemode in the payload " +
	"(fetchStripeSignature({livemode: environment.mode === 'live'}))"

// ResolveMode picks the mode of a UI request for accountID:
//  1. the signed payload's livemode, when the app signed one (signedLivemode non-nil);
//  2. else the mode of the only configured key;
//  3. else the mode the app is installed in on the account, if it is installed in
//     exactly one (installed may be nil: then this step is skipped);
//  4. otherwise a 400 mode_required error (ErrModeRequired) telling the app to sign
//     livemode.
func (c *Clients) ResolveMode(ctx context.Context, accountID string, signedLivemode *bool, installed InstalledModesFunc) (Mode, error) {
	if signedLivemode != nil {
		return ModeOf(*signedLivemode), nil
	}
	switch modes := c.Modes(); len(modes) {
	case 0:
		return "", refuseAs(ErrNoKey, apierror.CodeUnavailable,
			fmt.Sprintf("no Stripe API key is configured (set %s or %s)", EnvSecretKey, EnvTestSecretKey))
	case 1:
		return modes[0], nil
	}
	if installed != nil {
		live, test, err := installed(ctx, accountID)
		if err != nil {
			return "", fmt.Errorf("stripeclient: installation modes of %s: %w", accountID, err)
		}
		if live != test {
			return ModeOf(live), nil
		}
	}
	return "", refuseAs(ErrModeRequired, apierror.CodeModeRequired, modeRequiredMessage)
}

// SignedLivemode reads livemode from a signed payload (appauth.Identity.Payload: the
// signed JSON object without user_id and account_id). It returns nil when the payload
// is empty or has no livemode, and a 400 bad_request error when livemode is not a
// boolean.
func SignedLivemode(payload json.RawMessage) (*bool, error) {
	payload = bytes.TrimSpace(payload)
	if len(payload) == 0 || bytes.Equal(payload, []byte("null")) {
		return nil, nil
	}
	// A map, not a struct: encoding/json matches struct fields case-insensitively,
	// and only the exact key was signed as livemode.
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(payload, &fields); err != nil {
		// The signature verified, so the payload is simply not an object; it carries
		// no livemode.
		return nil, nil
	}
	raw, ok := fields["livemode"]
	if !ok {
		return nil, nil
	}
	switch string(bytes.TrimSpace(raw)) {
	case "true":
		live := true
		return &live, nil
	case "false":
		live := false
		return &live, nil
	}
	return nil, refuse(apierror.CodeBadRequest, "the signed livemode must be true or false")
}
