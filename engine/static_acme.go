package engine

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/edgeroute/edgeroute/acme"
	"github.com/edgeroute/edgeroute/compile/spec"
)

// setResolver reads certificatesResolvers.NAME.acme.KEY. Keys, and so
// resolver names, are case-insensitive as every static key: a router's
// tls.certResolver matches a resolver whatever its case.
func (s *Static) setResolver(key string, parts []string, val string) error {
	bad := func(err error) error { return fmt.Errorf("--%s=%s: %v", key, val, err) }
	if len(parts) < 3 || parts[2] != "acme" {
		if len(parts) >= 3 && parts[2] == "tailscale" {
			return fmt.Errorf("--%s: the Tailscale certificate resolver is not supported by edgeroute", key)
		}
		return fmt.Errorf("unknown or unsupported static configuration key --%s (edgeroute's certificate resolvers are certificatesResolvers.NAME.acme)", key)
	}
	if s.CertResolvers == nil {
		s.CertResolvers = map[string]*acme.Config{}
	}
	name := parts[1]
	c := s.CertResolvers[name]
	if c == nil {
		c = acme.NewConfig(name)
		s.CertResolvers[name] = c
	}
	boolean := func(dst *bool) error {
		b, err := strconv.ParseBool(val)
		if err != nil {
			return bad(err)
		}
		*dst = b
		return nil
	}
	dur := func(dst *time.Duration) error {
		d, err := spec.ParseDuration(val)
		if err != nil {
			return bad(err)
		}
		*dst = d
		return nil
	}
	switch opt := strings.Join(parts[3:], "."); opt {
	case "":
		return boolean(new(bool))
	case "email":
		c.Email = val
	case "caserver":
		c.CAServer = val
	case "storage":
		c.Storage, c.StorageSet = val, true
	case "keytype":
		c.KeyType = strings.ToUpper(val)
	case "preferredchain":
		c.PreferredChain = val
	case "emailaddresses":
		c.EmailAddresses = splitList(val)
	case "disablecommonname":
		return boolean(&c.DisableCommonName)
	case "certificatesduration":
		n, err := strconv.Atoi(val)
		if err != nil {
			return bad(errors.New("a number of hours"))
		}
		c.CertificatesDuration = n
	case "cacertificates":
		c.CACertificates = splitList(val)
	case "casystemcertpool":
		return boolean(&c.CASystemCertPool)
	case "caservername":
		c.CAServerName = val
	case "clienttimeout":
		return dur(&c.ClientTimeout)
	case "clientresponseheadertimeout":
		return dur(&c.ClientResponseHeaderTimeout)
	case "certificatetimeout":
		return dur(&c.CertificateTimeout)
	case "httpchallenge":
		var on bool
		if err := boolean(&on); err != nil {
			return err
		}
		if !on {
			c.HTTPChallenge = nil
		} else if c.HTTPChallenge == nil {
			c.HTTPChallenge = &acme.HTTPChallenge{}
		}
	case "httpchallenge.entrypoint":
		if c.HTTPChallenge == nil {
			c.HTTPChallenge = &acme.HTTPChallenge{}
		}
		c.HTTPChallenge.EntryPoint = strings.ToLower(val) // entry point names are lower case
	case "httpchallenge.delay":
		if c.HTTPChallenge == nil {
			c.HTTPChallenge = &acme.HTTPChallenge{}
		}
		return dur(&c.HTTPChallenge.Delay)
	case "tlschallenge":
		var on bool
		if err := boolean(&on); err != nil {
			return err
		}
		if !on {
			c.TLSChallenge = nil
		} else if c.TLSChallenge == nil {
			c.TLSChallenge = &acme.TLSChallenge{}
		}
	case "tlschallenge.delay":
		if c.TLSChallenge == nil {
			c.TLSChallenge = &acme.TLSChallenge{}
		}
		return dur(&c.TLSChallenge.Delay)
	default:
		switch {
		case strings.HasPrefix(opt, "dnschallenge"):
			return fmt.Errorf("--%s: the DNS-01 challenge is not supported by edgeroute yet (httpChallenge and tlsChallenge are)", key)
		case strings.HasPrefix(opt, "eab"), opt == "profile":
			return fmt.Errorf("--%s is not supported by edgeroute yet", key)
		}
		return fmt.Errorf("unknown or unsupported static configuration key --%s", key)
	}
	return nil
}

// validateResolvers checks every resolver against the entry points.
func (s *Static) validateResolvers() error {
	eps := map[string]bool{}
	for name := range s.EntryPoints {
		eps[name] = true
	}
	var errs []error
	for _, c := range s.CertResolvers {
		if err := c.Validate(eps); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
