package appauth

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const (
	sigA = "95d377f7216b002bc8462ad7ad1c21ae33f54bfd7f12f1fe86f43cfd56123df3"
	sigB = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
)

func mustSig(t *testing.T, s string) [sha256.Size]byte {
	t.Helper()
	var sig [sha256.Size]byte
	b, err := hex.DecodeString(s)
	require.NoError(t, err, "bad test signature %q", s)
	require.Len(t, b, sha256.Size, "bad test signature %q", s)
	copy(sig[:], b)
	return sig
}

func TestParseHeader(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name     string
		header   string
		wantUnix int64
		wantSigs []string
	}{
		{"one v1", "t=1700000000,v1=" + sigA, 1700000000, []string{sigA}},
		{"v1 before t", "v1=" + sigA + ",t=1700000000", 1700000000, []string{sigA}},
		{"two v1 in order", "t=1700000000,v1=" + sigA + ",v1=" + sigB, 1700000000, []string{sigA, sigB}},
		{"upper-case hex", "t=1700000000,v1=" + strings.ToUpper(sigA), 1700000000, []string{sigA}},
		{"v0 ignored", "t=1700000000,v0=" + sigB + ",v1=" + sigA, 1700000000, []string{sigA}},
		{"unknown scheme with any value ignored", "t=1,v1=" + sigA + ",v9=not-hex", 1, []string{sigA}},
		{"empty value of an unknown scheme ignored", "t=1,v1=" + sigA + ",x=", 1, []string{sigA}},
		{"t zero", "t=0,v1=" + sigA, 0, []string{sigA}},
		{"t with leading zeros", "t=0001700000000,v1=" + sigA, 1700000000, []string{sigA}},
		{"sixteen v1", "t=1" + strings.Repeat(",v1="+sigA, MaxSignatures), 1, repeat(sigA, MaxSignatures)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseHeader(tt.header)
			require.NoError(t, err, "ParseHeader(%q)", tt.header)
			want := time.Unix(tt.wantUnix, 0)
			require.True(t, got.Timestamp.Equal(want), "Timestamp = %v, want %v", got.Timestamp, want)
			require.Len(t, got.Signatures, len(tt.wantSigs), "got %d signatures, want %d", len(got.Signatures), len(tt.wantSigs))
			for i, want := range tt.wantSigs {
				if got.Signatures[i] != mustSig(t, want) {
					require.FailNow(t, fmt.Sprintf("Signatures[%d] = %x, want %s", i, got.Signatures[i], want))
				}
			}
		})
	}
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func TestParseHeaderErrors(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name   string
		header string
		want   error
	}{
		{"empty", "", ErrNotSigned},
		{"no t", "v1=" + sigA, ErrNoTimestamp},
		{"v0 only", "t=1700000000,v0=" + sigA, ErrNoSignatures},
		{"t only", "t=1700000000", ErrNoSignatures},
		{"no equals sign", "t1700000000,v1=" + sigA, ErrMalformedHeader},
		{"bare word", "hello", ErrMalformedHeader},
		{"empty key", "=1,t=1,v1=" + sigA, ErrMalformedHeader},
		{"two equals signs", "t=1=2,v1=" + sigA, ErrMalformedHeader},
		{"trailing comma", "t=1700000000,v1=" + sigA + ",", ErrMalformedHeader},
		{"leading comma", ",t=1700000000,v1=" + sigA, ErrMalformedHeader},
		{"double comma", "t=1700000000,,v1=" + sigA, ErrMalformedHeader},
		{"space after comma", "t=1700000000, v1=" + sigA, ErrNoSignatures},
		{"space in t", "t= 1700000000,v1=" + sigA, ErrMalformedHeader},
		{"t empty", "t=,v1=" + sigA, ErrMalformedHeader},
		{"t negative", "t=-1,v1=" + sigA, ErrMalformedHeader},
		{"t with plus", "t=+1700000000,v1=" + sigA, ErrMalformedHeader},
		{"t fractional", "t=1700000000.5,v1=" + sigA, ErrMalformedHeader},
		{"t hexadecimal", "t=0x10,v1=" + sigA, ErrMalformedHeader},
		{"t overflowing", "t=99999999999999999999,v1=" + sigA, ErrMalformedHeader},
		{"t twice", "t=1,t=2,v1=" + sigA, ErrMalformedHeader},
		{"v1 empty", "t=1,v1=", ErrMalformedHeader},
		{"v1 short", "t=1,v1=" + sigA[:62], ErrMalformedHeader},
		{"v1 long", "t=1,v1=" + sigA + "00", ErrMalformedHeader},
		{"v1 odd length", "t=1,v1=" + sigA[:63], ErrMalformedHeader},
		{"v1 not hex", "t=1,v1=" + strings.Repeat("g", 64), ErrMalformedHeader},
		{"v1 base64", "t=1,v1=ldN39yFrACvIRiqtrRwhrjP1S/1/EvH+hvQ8/VYSPfM=", ErrMalformedHeader},
		{"one bad v1 beside a good one", "t=1,v1=" + sigA + ",v1=zz", ErrMalformedHeader},
		{"too many v1", "t=1" + strings.Repeat(",v1="+sigA, MaxSignatures+1), ErrMalformedHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseHeader(tt.header)
			require.ErrorIs(t, err, tt.want, "ParseHeader(%q) error = %v, want %v", tt.header, err, tt.want)
			require.NotContains(t, err.Error(), sigA, "error %q echoes the signature", err)
			require.NotContains(t, err.Error(), sigA[:62], "error %q echoes the signature", err)
		})
	}
}

func FuzzParseHeader(f *testing.F) {
	for _, seed := range []string{
		"", "t=1700000000,v1=" + sigA, "t=1700000000,v1=" + sigA + ",v1=" + sigB,
		"t=1,v0=" + sigA, "v1=" + sigA, "t=1,,v1=" + sigA, "t==", ",", "t=1,v1=" + sigA[:63] + "G",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, header string) {
		h, err := ParseHeader(header)
		if err != nil {
			require.False(t, !errors.Is(err, ErrNotSigned) && !errors.Is(err, ErrMalformedHeader) &&
				!errors.Is(err, ErrNoTimestamp) && !errors.Is(err, ErrNoSignatures), "ParseHeader(%q) error %v wraps no sentinel", header, err)
			return
		}
		// A header that parses prints back to a header that parses to the same value.
		var b strings.Builder
		b.WriteString("t=")
		b.WriteString(strconv.FormatInt(h.Timestamp.Unix(), 10))
		for _, sig := range h.Signatures {
			b.WriteString(",v1=")
			b.WriteString(hex.EncodeToString(sig[:]))
		}
		again, err := ParseHeader(b.String())
		if err != nil {
			require.FailNow(t, fmt.Sprintf("reprinted header %q: %v", b.String(), err))
		}
		if !again.Timestamp.Equal(h.Timestamp) || len(again.Signatures) != len(h.Signatures) {
			require.FailNow(t, fmt.Sprintf("reprinted header %q parses to %v, want %v", b.String(), again, h))
		}
		require.False(t, len(h.Signatures) == 0 || len(h.Signatures) > MaxSignatures || h.Timestamp.Unix() < 0, "ParseHeader(%q) = %v, outside its contract", header, h)
	})
}
