// Package forwarded decides what to believe of X-Forwarded-For and X-Forwarded-Proto.
//
// A request's headers are the client's to write, so they are believed only when the
// peer that sent the request is a trusted proxy (APPBACKEND_TRUSTED_PROXIES, CIDRs).
// Then the client is the right-most X-Forwarded-For address that is not itself a
// trusted proxy (what each proxy appends is true; what the client wrote first is not),
// and the scheme is the one the last proxy saw. From any other peer both headers are
// removed, so nothing further in (the admin sign-in's throttle, its Secure cookie
// decision, the logs) can be fooled by them.
package forwarded

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Proxies is a set of trusted proxy networks. The zero value trusts none.
type Proxies struct {
	prefixes []netip.Prefix
}

// Parse reads CIDRs ("10.0.0.0/8") or single addresses ("192.0.2.7").
func Parse(list []string) (Proxies, error) {
	var p Proxies
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !strings.Contains(s, "/") {
			ip, err := netip.ParseAddr(s)
			if err != nil {
				return Proxies{}, fmt.Errorf("%q is not a CIDR such as 10.0.0.0/8 or an IP address", s)
			}
			ip = ip.Unmap()
			p.prefixes = append(p.prefixes, netip.PrefixFrom(ip, ip.BitLen()))
			continue
		}
		prefix, err := netip.ParsePrefix(s)
		if err != nil {
			return Proxies{}, fmt.Errorf("%q is not a CIDR such as 10.0.0.0/8 or an IP address", s)
		}
		if prefix.Addr().Is4In6() {
			prefix = netip.PrefixFrom(prefix.Addr().Unmap(), prefix.Bits()-96)
		}
		p.prefixes = append(p.prefixes, prefix.Masked())
	}
	return p, nil
}

// Trusted reports whether ip is in one of the networks.
func (p Proxies) Trusted(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, prefix := range p.prefixes {
		if prefix.Contains(ip) {
			return true
		}
	}
	return false
}

// Empty reports whether no proxy is trusted.
func (p Proxies) Empty() bool { return len(p.prefixes) == 0 }

func peerAddr(remote string) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return ip.Unmap(), true
}

// Client returns the request's client address and whether it came over HTTPS (as far
// as the trusted proxies say), without changing r.
func (p Proxies) Client(r *http.Request) (remoteAddr string, https bool) {
	remoteAddr, https = r.RemoteAddr, r.TLS != nil
	peer, ok := peerAddr(r.RemoteAddr)
	if !ok || !p.Trusted(peer) {
		return remoteAddr, https
	}
	if client, ok := p.clientFromXFF(r.Header.Values("X-Forwarded-For")); ok {
		remoteAddr = net.JoinHostPort(client.String(), "0")
	}
	if protos := r.Header.Values("X-Forwarded-Proto"); len(protos) > 0 {
		// The last proxy's word: the right-most value.
		last := protos[len(protos)-1]
		if i := strings.LastIndexByte(last, ','); i >= 0 {
			last = last[i+1:]
		}
		https = strings.EqualFold(strings.TrimSpace(last), "https")
	}
	return remoteAddr, https
}

// clientFromXFF walks X-Forwarded-For from the right, past trusted proxies, to the
// first address a trusted proxy vouches for.
func (p Proxies) clientFromXFF(values []string) (netip.Addr, bool) {
	var hops []string
	for _, v := range values {
		hops = append(hops, strings.Split(v, ",")...)
	}
	var last netip.Addr
	found := false
	for i := len(hops) - 1; i >= 0; i-- {
		ip, ok := peerAddr(strings.TrimSpace(hops[i]))
		if !ok {
			break // garbage: nothing to its left can be believed
		}
		last, found = ip, true
		if !p.Trusted(ip) {
			break
		}
	}
	return last, found
}

// Handler rewrites each request before next sees it: RemoteAddr becomes the client's
// address and X-Forwarded-Proto is "https" or absent, as the trusted proxies say; from
// any other peer X-Forwarded-For and X-Forwarded-Proto are removed.
func (p Proxies) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, hasXFF := r.Header["X-Forwarded-For"]
		_, hasProto := r.Header["X-Forwarded-Proto"]
		if !hasXFF && !hasProto {
			next.ServeHTTP(w, r)
			return
		}
		remote, https := p.Client(r)
		r2 := r.Clone(r.Context())
		r2.RemoteAddr = remote
		r2.Header.Del("X-Forwarded-For")
		r2.Header.Del("X-Forwarded-Proto")
		if https && r.TLS == nil {
			r2.Header.Set("X-Forwarded-Proto", "https")
		}
		next.ServeHTTP(w, r2)
	})
}
