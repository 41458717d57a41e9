package perms

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

func TestCheckName(t *testing.T) {
	long := strings.Repeat("k", MaxNameBytes+1)
	tests := []struct {
		key string
		// why is part of the message that tells the admin which rule the
		// key broke; empty means the key is a usable file name.
		why string
	}{
		{"", "empty"},
		{".", "names a directory"},
		{"..", "names a directory"},
		{"a/b", `contains "/"`},
		{"/abs", `contains "/"`},
		{"a/", `contains "/"`},
		{"a\x00b", "NUL"},
		{long, "256 bytes long"},
		{strings.Repeat("ж", 128), "256 bytes long"},
		{"a\xffb", "not valid UTF-8"},
		{"a\nb", "control character"},
		{"a\rb", "control character"},
		{"\tkey", "control character"},
		{"a\x7fb", "control character"},
		{"\x1b[31mred", "control character"},
		{TempPrefix + "x", "reserved for temporary files"},
		{TempPrefix, "reserved for temporary files"},

		{"kube.config", ""},
		{"api key", ""},
		{"ключ", ""},
		{".hidden", ""},
		{"a..b", ""},
		{"...", ""},
		{"-rf", ""},
		{long[:MaxNameBytes], ""},
		{strings.Repeat("ж", 127) + "k", ""},
		{"x" + TempPrefix, ""},
	}
	for _, tt := range tests {
		name := strconv.Quote(tt.key)
		if len(tt.key) > 40 {
			name = fmt.Sprintf("%.12q...(%d bytes)", tt.key, len(tt.key))
		}
		t.Run(name, func(t *testing.T) {
			err := CheckName(tt.key)
			switch {
			case tt.why == "" && err != nil:
				t.Errorf("CheckName(%q) = %v, want nil", tt.key, err)
			case tt.why == "":
			case err == nil:
				t.Errorf("CheckName(%q) = nil, want an error saying %q", tt.key, tt.why)
			case !strings.Contains(err.Error(), tt.why):
				t.Errorf("CheckName(%q) = %q, want it to say %q", tt.key, err, tt.why)
			case !printableMsg(err.Error()):
				// The message lands on one line of the sync report.
				t.Errorf("CheckName(%q) = %q, which has unprintable characters", tt.key, err)
			}
		})
	}
}

func printableMsg(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) < 0
}

// FuzzCheckName guards the one property the writer relies on: a name that
// passes is a single entry inside the user's directory, never the directory,
// its parent or a path, and one the kernel accepts as a file name.
func FuzzCheckName(f *testing.F) {
	for _, seed := range []string{"", ".", "..", "a/b", "a\x00b", "kube.config", "ключ", ".hidden", TempPrefix + "1", "a\nb", "\xff"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, key string) {
		err := CheckName(key)
		if err != nil {
			if msg := err.Error(); msg == "" || !printableMsg(msg) {
				t.Fatalf("CheckName(%q) = %q, want a non-empty one-line message", key, msg)
			}
			return
		}
		switch {
		case len(key) < 1 || len(key) > MaxNameBytes:
			t.Fatalf("accepted %q of %d bytes", key, len(key))
		case key == "." || key == "..":
			t.Fatalf("accepted %q", key)
		case strings.ContainsAny(key, "/\x00"):
			t.Fatalf("accepted %q containing / or NUL", key)
		}
	})
}
