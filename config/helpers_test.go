package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// minimalSections is the smallest valid spec, one TOML table per entry, so
// a case can replace exactly the table it is about and keep the rest valid.
var minimalSections = [][2]string{
	{"vault", `address = "https://vault.example.com:8200"`},
	{"auth", "role_id_file = \"/var/lib/vault/host/role-id\"\nsecret_id_file = \"/var/lib/vault/host/secret-id\""},
	{"users", `johndoe = { files = ["api_key"] }`},
}

// specWith renders the minimal spec with table's body replaced, or added
// when the minimal spec has no such table.
func specWith(table, body string) string {
	var b strings.Builder
	found := false
	for _, s := range minimalSections {
		name, text := s[0], s[1]
		if name == table {
			text, found = body, true
		}
		fmt.Fprintf(&b, "[%s]\n%s\n\n", name, text)
	}
	if !found {
		fmt.Fprintf(&b, "[%s]\n%s\n", table, body)
	}
	return b.String()
}

// tomlString quotes s as a TOML basic string. strconv.Quote is not enough:
// its \x escapes are not TOML.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// parseProblems parses text and requires it to fail with Problems.
func parseProblems(t *testing.T, name, text string) Problems {
	t.Helper()
	spec, err := Parse(name, []byte(text))
	if err == nil {
		t.Fatalf("Parse succeeded, want problems; spec:\n%s\nparsed: %+v", text, spec)
	}
	if spec != nil {
		t.Errorf("Parse returned a spec along with error %v", err)
	}
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("Parse error is %T (%v), want config.Problems", err, err)
	}
	if len(ps) == 0 {
		t.Fatalf("Parse returned empty Problems")
	}
	return ps
}

// mustParse parses text and requires it to be valid.
func mustParse(t *testing.T, text string) *Spec {
	t.Helper()
	spec, err := Parse("spec.toml", []byte(text))
	if err != nil {
		t.Fatalf("Parse: %v\nspec:\n%s", err, text)
	}
	return spec
}

// lineOf is the 1-based line of the first line of text containing substr,
// so expected positions follow the fixture instead of being counted by hand.
func lineOf(t *testing.T, text, substr string) int {
	t.Helper()
	for i, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			return i + 1
		}
	}
	t.Fatalf("%q not in spec:\n%s", substr, text)
	return 0
}

// messages is every problem's message, for failure output.
func messages(ps Problems) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "\n\t%s", p.Error())
	}
	return b.String()
}

// plainFiles is what the plain list form ["a", "b"] decodes to.
func plainFiles(keys ...string) []File {
	files := []File{}
	for _, k := range keys {
		files = append(files, File{Key: k, Name: k, Mode: DefaultFileMode})
	}
	return files
}
