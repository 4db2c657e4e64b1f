package cli

// The binary carries what a FROM scratch container image lacks, so that it runs in one
// as it does on a host: the IANA time-zone database (used only where the system has
// none, e.g. for TZ=Europe/Paris in the container) and Mozilla's CA roots (used only
// where the system has no certificate store, for HTTPS to Stripe and to an upstream).
// A host's own files win wherever they exist, so that its updates still apply.
import (
	_ "time/tzdata"

	_ "golang.org/x/crypto/x509roots/fallback"
)
