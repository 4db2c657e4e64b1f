package storetest

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// OpenErrorCase is a database setting an adapter's Open must refuse: Target is what
// Open is given (a file path, a URL), Want a phrase its error must hold.
type OpenErrorCase struct {
	Name, Target, Want string
}

// RunOpenErrors checks that open refuses every case with an error of one line that
// holds the case's phrase once — the line the CLI prints — and, when secret is not
// empty, never repeats secret (a password in the URL).
func RunOpenErrors(t *testing.T, open func(ctx context.Context, target string) (io.Closer, error), secret string, cases []OpenErrorCase) {
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			s, err := open(t.Context(), tc.Target)
			if err == nil {
				s.Close()
				require.FailNow(t, fmt.Sprintf("Open(%q) succeeded, want an error containing %q", tc.Target, tc.Want))
			}
			msg := err.Error()
			require.Contains(t, msg, tc.Want, "Open(%q) error = %q, want one line containing %q", tc.Target, msg, tc.Want)
			require.NotContains(t, msg, "\n", "Open(%q) error = %q, want one line containing %q", tc.Target, msg, tc.Want)
			require.LessOrEqual(t, strings.Count(msg, tc.Want), 1, "Open(%q) error = %q says %q more than once", tc.Target, msg, tc.Want)
			if secret != "" {
				require.NotContains(t, msg, secret, "Open error = %q repeats the secret", msg)
			}
		})
	}
}
