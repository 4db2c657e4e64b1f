package cli

import (
	"io"
	"text/tabwriter"
	"unicode/utf8"
)

// newTable is the tabwriter of the human listings. What they print comes from the
// database, which may not be trustworthy (a copied file, a crafted event), so control
// characters other than the table's own tabs and newlines are shown as '?': an
// escape sequence in an event type must not drive the operator's terminal.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(terminalSafe{w}, 2, 4, 2, ' ', 0)
}

type terminalSafe struct{ w io.Writer }

func (t terminalSafe) Write(p []byte) (int, error) {
	clean := p
	for i := 0; i < len(p); {
		r, size := utf8.DecodeRune(p[i:])
		if unsafeRune(r) || (r == utf8.RuneError && size == 1) {
			if &clean[0] == &p[0] {
				clean = append([]byte(nil), p...)
			}
			for j := i; j < i+size; j++ {
				clean[j] = '?'
			}
		}
		i += size
	}
	if _, err := t.w.Write(clean); err != nil {
		return 0, err
	}
	return len(p), nil
}

// unsafeRune reports C0 controls but tab and newline, DEL and C1 controls; a byte that
// is not UTF-8 (a raw 8-bit CSI) is replaced too.
func unsafeRune(r rune) bool {
	return (r < 0x20 && r != '\t' && r != '\n') || (r >= 0x7f && r <= 0x9f)
}
