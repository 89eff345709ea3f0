package certs

import (
	"crypto/x509"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
)

// defaultHosts are always covered: the listeners bind to loopback and
// clients connect by any of these names.
var defaultHosts = []string{"localhost", "127.0.0.1", "::1"}

// hostSet is a normalised, de-duplicated list of names and addresses.
type hostSet struct {
	dns []string
	ips []net.IP
}

// newHostSet validates extra and merges it with defaultHosts.
func newHostSet(extra []string) (hostSet, error) {
	var hs hostSet
	for _, h := range append(slices.Clone(defaultHosts), extra...) {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		// Accept "[::1]" as people copy it from URLs.
		if addr, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
			ip := net.IP(addr.Unmap().AsSlice())
			if !slices.ContainsFunc(hs.ips, ip.Equal) {
				hs.ips = append(hs.ips, ip)
			}
			continue
		}
		name := strings.TrimSuffix(strings.ToLower(h), ".")
		if err := checkDNSName(name); err != nil {
			return hostSet{}, err
		}
		if !slices.Contains(hs.dns, name) {
			hs.dns = append(hs.dns, name)
		}
	}
	return hs, nil
}

// checkDNSName accepts what a certificate SAN may hold: LDH labels, with
// an optional leading wildcard label.
func checkDNSName(name string) error {
	if len(name) > 253 {
		return fmt.Errorf("certs: host name of %d bytes is too long", len(name))
	}
	for i, label := range strings.Split(name, ".") {
		if label == "*" && i == 0 && strings.Contains(name, ".") {
			continue
		}
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("certs: invalid host name %q", name)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Errorf("certs: invalid host name %q", name)
			}
		}
	}
	return nil
}

// missingFrom lists the hosts of hs that leaf does not name exactly.
// Wildcard matching is deliberately not applied: the user asked for these
// exact entries.
func (hs hostSet) missingFrom(leaf *x509.Certificate) []string {
	var missing []string
	for _, name := range hs.dns {
		if !slices.ContainsFunc(leaf.DNSNames, func(d string) bool { return strings.EqualFold(d, name) }) {
			missing = append(missing, name)
		}
	}
	for _, ip := range hs.ips {
		if !slices.ContainsFunc(leaf.IPAddresses, ip.Equal) {
			missing = append(missing, ip.String())
		}
	}
	return missing
}

// leafHosts lists the SANs of leaf as strings.
func leafHosts(leaf *x509.Certificate) []string {
	out := slices.Clone(leaf.DNSNames)
	for _, ip := range leaf.IPAddresses {
		out = append(out, ip.String())
	}
	return out
}
