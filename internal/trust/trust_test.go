package trust

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orderpipe/orderpipe/internal/settings"
)

func TestCAPoolNamesTheVariable(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{filepath.Join(dir, "missing.pem"), notPEM} {
		_, err := CAPool(file, "SOME_CA_CERT")
		if err == nil || !strings.Contains(err.Error(), "SOME_CA_CERT") {
			t.Errorf("CAPool(%s) = %v, want an error naming SOME_CA_CERT", file, err)
		}
	}
	if _, err := CAPool(notPEM, "SOME_CA_CERT"); !errors.Is(err, settings.ErrInvalid) {
		t.Errorf("a file without certificates: %v, want a settings error", err)
	}
}

func TestIsCertificateError(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("dial: %w", x509.UnknownAuthorityError{}), true},
		{fmt.Errorf("dial: %w", &tls.CertificateVerificationError{Err: errors.New("expired")}), true},
		{fmt.Errorf("dial: %w", x509.HostnameError{Host: "x"}), true},
		{errors.New("connection refused"), false},
	}
	for _, tc := range tests {
		if got := IsCertificateError(tc.err); got != tc.want {
			t.Errorf("IsCertificateError(%T) = %v, want %v", errors.Unwrap(tc.err), got, tc.want)
		}
	}
}
