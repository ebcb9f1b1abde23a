package acme

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// matchDomain is Traefik's types.MatchDomain: domain equals certDomain, or
// certDomain is domain with its leading labels replaced by "*" (one or
// more).
func matchDomain(domain, certDomain string) bool {
	if domain == certDomain {
		return true
	}
	for len(certDomain) > 0 && certDomain[len(certDomain)-1] == '.' {
		certDomain = certDomain[:len(certDomain)-1]
	}
	labels := strings.Split(domain, ".")
	for i := range labels {
		labels[i] = "*"
		if certDomain == strings.Join(labels, ".") {
			return true
		}
	}
	return false
}

// covered tells whether one of names (certificate subjects) matches
// domain (Traefik's isDomainAlreadyChecked).
func covered(domain string, names []string) bool {
	for _, n := range names {
		if matchDomain(domain, n) {
			return true
		}
	}
	return false
}

// sanitize is Traefik's sanitizeDomains: lower case, no surrounding space
// nor trailing dot; "*.*" wildcards are refused.
func sanitize(d Domain) ([]string, error) {
	names := d.Names()
	if len(names) == 0 {
		return nil, errors.New("no domain was given")
	}
	out := make([]string, 0, len(names))
	for _, n := range names {
		if strings.HasPrefix(n, "*.*") {
			return nil, fmt.Errorf("unable to generate a wildcard certificate in ACME provider for domain %q : ACME does not allow '*.*' wildcard domain", strings.Join(names, ","))
		}
		n = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(n)), ".")
		out = append(out, n)
	}
	return out, nil
}

// dedupeDomains is Traefik's deleteUnnecessaryDomains: a domain listed
// twice is kept once, and names already in an earlier domain, or that an
// earlier wildcard Main covers, are dropped (the domain too, when nothing
// is left).
func dedupeDomains(domains []Domain) []Domain {
	var out []Domain
	for i, check := range domains {
		keep := true
		for j, d := range domains {
			if i == j {
				continue
			}
			if d.equal(check) {
				if i > j {
					keep = false
				}
				break
			}
			var left []string
			for _, name := range check.Names() {
				if j < i && covered(name, d.Names()) {
					continue
				}
				if d.Main != name && strings.HasPrefix(d.Main, "*") && covered(name, []string{d.Main}) {
					continue
				}
				left = append(left, name)
			}
			if left == nil {
				keep = false
				break
			}
			check = domainOf(left)
		}
		if keep {
			out = append(out, check)
		}
	}
	return out
}

// domainKey names a set of names regardless of order.
func domainKey(names []string) string {
	s := slices.Clone(names)
	slices.Sort(s)
	return strings.Join(s, ",")
}
