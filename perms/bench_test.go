package perms

import (
	"bytes"
	"fmt"
	"testing"
)

// BenchmarkPlace measures the write path: every Place changes the value, so
// each pays for the temp file, chown, chmod, fsync and rename.
func BenchmarkPlace(b *testing.B) {
	for _, size := range []int{32, 512, 4096} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			d, keys := benchDir(b, 64)
			values := [2][]byte{bytes.Repeat([]byte("a"), size), bytes.Repeat([]byte("b"), size)}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				// Alternating values per round over a fixed set of keys keeps
				// the directory small and every call a real write.
				res, _, err := d.Place(keys[i%len(keys)], values[(i/len(keys))%2])
				if err != nil || res != Written {
					b.Fatalf("Place = %v, %v; want Written", res, err)
				}
				i++
			}
		})
	}
}

// BenchmarkPlaceUnchanged measures a run where nothing changed: lstat, open
// and compare only.
func BenchmarkPlaceUnchanged(b *testing.B) {
	for _, size := range []int{32, 512, 4096} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			d, keys := benchDir(b, 64)
			value := bytes.Repeat([]byte("a"), size)
			for _, k := range keys {
				if _, _, err := d.Place(k, value); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				res, _, err := d.Place(keys[i%len(keys)], value)
				if err != nil || res != Unchanged {
					b.Fatalf("Place = %v, %v; want Unchanged", res, err)
				}
				i++
			}
		})
	}
}

// benchDir opens a user directory for the current user (no useradd in a
// benchmark) and names n keys.
func benchDir(b *testing.B, n int) (*Dir, []string) {
	b.Helper()
	tr, _ := newTree(b)
	d := newDir(b, tr, selfOwner(b))
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%02d", i)
	}
	return d, keys
}
