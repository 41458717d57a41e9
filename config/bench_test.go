package config

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkParse10k measures `check` on a fleet-sized spec: 10,000 users of
// five keys each, the size an LDAP-backed host may list.
func BenchmarkParse10k(b *testing.B) {
	var s strings.Builder
	s.WriteString("[vault]\naddress = \"https://v:8200\"\n[auth]\nrole_id_file = \"/r\"\nsecret_id_file = \"/s\"\n")
	for i := range 10000 {
		fmt.Fprintf(&s, "[users.user%05d]\nfiles = [\"api_key\", \"db_password\", \"kube.config\", \"ssh key\", \"token\"]\n", i)
	}
	data := []byte(s.String())
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("spec.toml", data); err != nil {
			b.Fatal(err)
		}
	}
}
