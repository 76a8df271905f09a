package relay

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// PinPrefix starts every SPKI pin's text form: "sha256/" then the standard
// base64 (with padding) of SHA-256 over the certificate's
// SubjectPublicKeyInfo, as in HPKP (RFC 7469).
const PinPrefix = "sha256/"

// MinPins is how many pins a pinned configuration needs: the key in use
// and at least one backup, so that replacing the relay's key does not
// lock every client out.
const MinPins = 2

// Pin is the SHA-256 of a certificate's SubjectPublicKeyInfo.
type Pin [sha256.Size]byte

// SPKIPin returns the pin of cert's public key in its text form.
func SPKIPin(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return PinPrefix + base64.StdEncoding.EncodeToString(sum[:])
}

// ParsePins reads pins in their text form. An empty list is valid (no
// pinning); a non-empty one needs at least MinPins distinct pins.
func ParsePins(texts []string) ([]Pin, error) {
	if len(texts) == 0 {
		return nil, nil
	}
	pins := make([]Pin, 0, len(texts))
	for _, t := range texts {
		p, err := parsePin(t)
		if err != nil {
			return nil, err
		}
		for _, q := range pins {
			if p == q {
				return nil, fmt.Errorf("%w: pin %q given twice", ErrConfig, t)
			}
		}
		pins = append(pins, p)
	}
	if len(pins) < MinPins {
		return nil, fmt.Errorf("%w: %d pin(s); pinning needs at least %d (one a backup)", ErrConfig, len(pins), MinPins)
	}
	return pins, nil
}

func parsePin(t string) (Pin, error) {
	var p Pin
	b64, ok := strings.CutPrefix(t, PinPrefix)
	if !ok {
		return p, fmt.Errorf("%w: pin %q does not start with %q", ErrConfig, t, PinPrefix)
	}
	b, err := base64.StdEncoding.Strict().DecodeString(b64)
	if err != nil || len(b) != len(p) {
		return p, fmt.Errorf("%w: pin %q is not base64 of 32 bytes", ErrConfig, t)
	}
	copy(p[:], b)
	return p, nil
}

// errPinMismatch is returned from the TLS handshake when no certificate of
// the verified chain carries a pinned key.
var errPinMismatch = fmt.Errorf("%w: no certificate in the chain matches a pinned key", ErrUntrusted)

// TLSConfig returns the client TLS configuration: TLS 1.3 only, the
// chain and host name verified against roots (PEM certificates; nil means
// the system pool) by crypto/tls itself, and, when pins are given, a key
// of the verified chain must match one of them. There is no option to
// skip verification.
func TLSConfig(rootsPEM []byte, pins []Pin) (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS13, NextProtos: []string{"http/1.1"}}
	if rootsPEM != nil {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(rootsPEM) {
			return nil, fmt.Errorf("%w: no PEM certificate in the CA file", ErrConfig)
		}
		conf.RootCAs = pool
	}
	if len(pins) > 0 {
		pins := append([]Pin(nil), pins...)
		conf.VerifyConnection = func(cs tls.ConnectionState) error { return checkPins(cs, pins) }
	}
	return conf, nil
}

// checkPins runs after crypto/tls verified the chain and host name: one
// certificate of one verified chain must carry a pinned key.
func checkPins(cs tls.ConnectionState, pins []Pin) error {
	if len(cs.VerifiedChains) == 0 {
		return errors.Join(errPinMismatch, errors.New("relay: no verified chain"))
	}
	for _, chain := range cs.VerifiedChains {
		for _, cert := range chain {
			sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
			for _, p := range pins {
				if subtle.ConstantTimeCompare(sum[:], p[:]) == 1 {
					return nil
				}
			}
		}
	}
	return errPinMismatch
}
