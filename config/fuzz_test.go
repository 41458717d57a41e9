package config

import (
	"errors"
	"testing"

	"github.com/excalibur/user-secrets/perms"
)

// FuzzParse guards the promise that every spec, however broken, ends in
// either a usable Spec or a list of located problems: the CLI prints those
// problems one per line and exits 2, so a panic or an empty message would
// leave an admin with nothing to fix. A spec that is accepted must only name
// keys and users that are safe to turn into paths.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		exampleSpec,
		specWith("users", `"j.doe" = { files = ["kube.config", ".hidden", "api key"], path = "legacy/{user}" }`),
		specWith("users", `jo = { files = ["a/b", "..", "", "a", "a"] }`),
		specWith("kv", "version = \"2\""),
		specWith("vault", "address = \"ftp://u:p@x\"\ntimeout = \"soon\"\nadress = 1"),
		"[vault\naddress = \"x\"\n",
		"users = 5\n",
		"[users]\n\"-x\" = { files = [\"k\"] }\n\"1234\" = {}\n",
		"",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		spec, err := Parse("fuzz.toml", data)
		if err != nil {
			if spec != nil {
				t.Fatalf("Parse returned a spec along with error %v", err)
			}
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("error is %T (%v), want Problems", err, err)
			}
			if len(ps) == 0 {
				t.Fatal("error is an empty Problems")
			}
			for i, p := range ps {
				if p.File == "" || p.Msg == "" || p.Line < 0 {
					t.Fatalf("problem %d = %#v, want File, Msg and a non-negative Line", i, p)
				}
			}
			return
		}
		if spec == nil {
			t.Fatal("Parse returned neither a spec nor an error")
		}
		for name, u := range spec.Users {
			if err := ValidateUser(name); err != nil {
				t.Errorf("accepted user %q: %v", name, err)
			}
			for _, f := range u.Files {
				if err := perms.CheckName(f.Name); err != nil || f.Key == "" {
					t.Errorf("accepted file %q (key %q) of user %q: %v", f.Name, f.Key, name, err)
				}
			}
		}
	})
}
