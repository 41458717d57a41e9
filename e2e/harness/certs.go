package harness

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// certPair names the PEM files of one server certificate and its key.
type certPair struct{ Cert, Key string }

// writeCerts creates a CA and one server certificate per name, each valid for
// 127.0.0.1 and localhost, and writes them into dir as ca.pem, NAME.pem and
// NAME-key.pem. A fresh CA per run keeps tests independent of the host's
// trust store and of any leftover files.
func writeCerts(dir string, names ...string) (caFile string, pairs []certPair, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", nil, err
	}
	caTmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "user-secrets e2e CA"},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := signCert(caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return "", nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return "", nil, err
	}
	caFile = filepath.Join(dir, "ca.pem")
	if err := writePEM(caFile, "CERTIFICATE", caDER); err != nil {
		return "", nil, err
	}
	for _, name := range names {
		p, err := writeServerCert(dir, name, caCert, caKey)
		if err != nil {
			return "", nil, err
		}
		pairs = append(pairs, p)
	}
	return caFile, pairs, nil
}

func writeServerCert(dir, name string, ca *x509.Certificate, caKey *ecdsa.PrivateKey) (certPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return certPair{}, err
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: name},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		// Vault nodes also dial each other's API (retry_join), so allow both.
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := signCert(tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return certPair{}, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return certPair{}, err
	}
	p := certPair{Cert: filepath.Join(dir, name+".pem"), Key: filepath.Join(dir, name+"-key.pem")}
	if err := writePEM(p.Cert, "CERTIFICATE", der); err != nil {
		return certPair{}, err
	}
	return p, writePEM(p.Key, "PRIVATE KEY", keyDER)
}

// signCert fills in serial and validity, then signs tmpl with parent's key.
// Validity starts an hour back so clock skew cannot make a fresh cert invalid.
func signCert(tmpl, parent *x509.Certificate, pub, signer any) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(48 * time.Hour)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return nil, fmt.Errorf("sign %s: %w", tmpl.Subject.CommonName, err)
	}
	return der, nil
}

func writePEM(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}
