package config

import "strconv"

// applyEnv fills settings the spec leaves empty from the environment
// variables the vault CLI reads, so an ad hoc run behaves like `vault`. The
// spec wins wherever both are set: it is what the admin reviewed.
func (s *Spec) applyEnv(getenv func(string) string) {
	for _, e := range []struct {
		name string
		dst  *string
	}{
		{"VAULT_ADDR", &s.Vault.Address},
		{"VAULT_CACERT", &s.Vault.CACert},
		{"VAULT_CAPATH", &s.Vault.CAPath},
		{"VAULT_CLIENT_CERT", &s.Vault.ClientCert},
		{"VAULT_CLIENT_KEY", &s.Vault.ClientKey},
		{"VAULT_TLS_SERVER_NAME", &s.Vault.TLSServerName},
		{"VAULT_NAMESPACE", &s.Vault.Namespace},
	} {
		if *e.dst == "" {
			*e.dst = getenv(e.name)
		}
	}
	if skip, err := strconv.ParseBool(getenv("VAULT_SKIP_VERIFY")); err == nil && skip {
		s.Vault.TLSSkipVerify = true
	}
}
