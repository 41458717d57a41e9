package config

import (
	"fmt"
	"io/fs"
	"sort"
	"strconv"
)

// DefaultFileMode is the mode of a placed file unless the spec says otherwise.
const DefaultFileMode fs.FileMode = 0o400

// File is one key of a user's entry placed as a file. In the spec it is the
// key name alone, or a table that changes how it is placed:
//
//	files = ["api_key", { key = "kube.config", name = "kubeconfig", mode = "0440", group = "wheel", encoding = "base64" }]
type File struct {
	Key      string
	Name     string      // file name in the user's directory; Key by default
	Mode     fs.FileMode // DefaultFileMode by default
	Group    string      // owning group by name; the user's primary group by default
	Encoding string      // "" (the value as is) or "base64"

	problems []string // found while decoding, reported by validate with the rest
}

// UnmarshalTOML accepts either form. Only a value of the wrong type stops
// the decoder (which then names its line); what is wrong inside a table is
// kept for validate, so one bad entry does not hide the others.
func (f *File) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case string:
		*f = File{Key: v, Name: v, Mode: DefaultFileMode}
	case map[string]any:
		f.fromTable(v)
	default:
		return fmt.Errorf("incompatible types: an entry of files is %s; want a key name or a table", tomlType(v))
	}
	return nil
}

func (f *File) fromTable(t map[string]any) {
	f.Mode = DefaultFileMode
	str := func(name string) string {
		v, ok := t[name]
		if !ok {
			return ""
		}
		s, ok := v.(string)
		if !ok {
			f.problems = append(f.problems, fmt.Sprintf("%s must be a string", name))
		}
		return s
	}
	f.Key, f.Name, f.Group, f.Encoding = str("key"), str("name"), str("group"), str("encoding")
	if f.Name == "" {
		f.Name = f.Key
	}
	if m, ok := t["mode"]; ok {
		f.Mode = f.parseMode(m)
	}
	var unknown []string
	for k := range t {
		switch k {
		case "key", "name", "mode", "group", "encoding":
		default:
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		f.problems = append(f.problems, fmt.Sprintf("key %q: unknown file option %q (known: key, name, mode, group, encoding)", f.Key, k))
	}
}

// parseMode takes "0440" or an integer such as 0o440.
func (f *File) parseMode(v any) fs.FileMode {
	switch v := v.(type) {
	case string:
		n, err := strconv.ParseUint(v, 8, 32)
		if err != nil {
			f.problems = append(f.problems, fmt.Sprintf("mode %q is not an octal number such as \"0440\"", v))
			return DefaultFileMode
		}
		return fs.FileMode(n)
	case int64:
		return fs.FileMode(v)
	}
	f.problems = append(f.problems, fmt.Sprintf("mode must be a string such as \"0440\", got %T", v))
	return DefaultFileMode
}

// check returns what is wrong with f, beyond its name.
func (f *File) check() []string {
	ps := f.problems
	if f.Mode&^0o644 != 0 || f.Mode&0o400 == 0 {
		ps = append(ps, fmt.Sprintf("key %q: mode %04o must let the owner read and allow nothing beyond 0644", f.Key, f.Mode))
	}
	if f.Encoding != "" && f.Encoding != "base64" {
		ps = append(ps, fmt.Sprintf("key %q: unknown encoding %q (known: \"base64\")", f.Key, f.Encoding))
	}
	if f.Group != "" {
		if err := ValidateGroup(f.Group); err != nil {
			ps = append(ps, fmt.Sprintf("key %q: %v", f.Key, err))
		}
	}
	return ps
}

func tomlType(v any) string {
	switch v.(type) {
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	}
	return fmt.Sprintf("%T", v)
}
