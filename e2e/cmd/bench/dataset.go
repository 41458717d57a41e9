package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
)

// Value sizes are log-uniform between these: as many 32–64 byte tokens and
// passwords as 2–4 KiB kubeconfigs and keys. The mean is ~840 bytes.
const (
	minValue = 32
	maxValue = 4096
)

// dataset is what Vault holds for the bench users: users × keys values.
// It is generated from a fixed seed so runs are comparable.
type dataset struct {
	users  []benchUser
	keys   []string
	values [][]string // values[user][key]
	rng    *rand.Rand
	bytes  int64
}

// keyNames are realistic key names first (a dot in one of them, as
// user-secrets supports), then numbered ones.
var keyNames = []string{"api_key", "db_password", "kube.config", "id_ed25519", "token"}

func newDataset(users []benchUser, nkeys int) *dataset {
	d := &dataset{users: users, rng: rand.New(rand.NewPCG(5, 1))}
	for i := range nkeys {
		if i < len(keyNames) {
			d.keys = append(d.keys, keyNames[i])
		} else {
			d.keys = append(d.keys, fmt.Sprintf("key%d", i))
		}
	}
	d.values = make([][]string, len(users))
	for u := range users {
		d.values[u] = make([]string, nkeys)
		for k := range nkeys {
			d.values[u][k] = d.value(d.size())
			d.bytes += int64(len(d.values[u][k]))
		}
	}
	return d
}

func (d *dataset) files() int { return len(d.users) * len(d.keys) }

func (d *dataset) size() int {
	return int(math.Round(math.Exp(d.rng.Float64()*(math.Log(maxValue)-math.Log(minValue)) + math.Log(minValue))))
}

// value is printable text, so a shell round trip through jq is exact.
func (d *dataset) value(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[d.rng.IntN(len(alphabet))]
	}
	return string(b)
}

func (d *dataset) entry(u int) map[string]string {
	m := make(map[string]string, len(d.keys))
	for k, key := range d.keys {
		m[key] = d.values[u][k]
	}
	return m
}

// seed writes every user's entry with concurrent PUTs.
func (d *dataset) seed(ctx context.Context, root *api) error {
	return parallel(len(d.users), 16, func(u int) error {
		return root.putKV(ctx, d.users[u].Name, d.entry(u))
	})
}

// change gives the first key of n users a new value of the same size,
// starting at user from, and returns how many files a sync must write.
func (d *dataset) change(ctx context.Context, root *api, from, n int) (int, error) {
	idx := make([]int, n)
	for i := range idx {
		u := (from + i) % len(d.users)
		idx[i] = u
		d.values[u][0] = d.value(len(d.values[u][0]))
	}
	err := parallel(n, 16, func(i int) error {
		return root.putKV(ctx, d.users[idx[i]].Name, d.entry(idx[i]))
	})
	return n, err
}
