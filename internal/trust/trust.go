// Package trust is how orderpipe's clients decide whom to trust over TLS:
// the CA file a setting names, read into a certificate pool, and the test
// for an error that says a server's certificate was not trusted. Kafka and
// Elasticsearch clients both use it, so a wrong CA file reads the same for
// both, and both know that no retry fixes an untrusted certificate.
package trust

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/orderpipe/orderpipe/internal/settings"
)

// CAPool reads the PEM certificates in file into a pool. Its errors name
// variable, the setting that gave the file.
func CAPool(file, variable string) (*x509.CertPool, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", variable, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, &settings.Error{Variable: variable, Reason: fmt.Sprintf("%s holds no PEM certificate", file)}
	}
	return pool, nil
}

// IsCertificateError reports a TLS verification failure: an unknown
// authority, a failed verification or a certificate for another host.
// Waiting cannot fix any of them.
func IsCertificateError(err error) bool {
	var unknownCA x509.UnknownAuthorityError
	var verify *tls.CertificateVerificationError
	var hostname x509.HostnameError
	return errors.As(err, &unknownCA) || errors.As(err, &verify) || errors.As(err, &hostname)
}
