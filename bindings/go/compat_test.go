package pekonode

import (
	"errors"
	"fmt"
	"testing"
)

// Our own key: compat packets carry its MD5, so other programs' compat members on this
// machine are ignored rather than merged into our lists.
func compatConfig() Config {
	cfg := testConfig
	cfg.SecretKey = "go-tests compat key"
	cfg.Timeout = cfg.Cycle * 10
	return cfg
}

func compatOf(t *testing.T, n *Node) Compat {
	t.Helper()
	m, err := n.Compat()
	if err != nil {
		t.Fatalf("Compat: %v", err)
	}
	return m
}

func TestCompatChosenBeforeJoinOnly(t *testing.T) {
	n := newUnjoined(t, compatConfig(), "compat")
	if m := compatOf(t, n); m != CompatNative || m.String() != "native" {
		t.Fatalf("Compat = %v, want native", m)
	}
	for _, m := range []Compat{CompatGoPekonode, CompatNative} {
		if err := n.SetCompat(m); err != nil {
			t.Fatalf("SetCompat(%v): %v", m, err)
		}
		if got := compatOf(t, n); got != m {
			t.Fatalf("Compat = %v, want %v", got, m)
		}
	}
	// Natively, so KeyRemove("second") would be allowed.
	if err := n.KeyInstall("second"); err != nil {
		t.Fatal(err)
	}
	if err := n.SetCompat(CompatGoPekonode); err != nil {
		t.Fatal(err)
	}
	e := asError(t, n.SetCompat(2), StatusInvalidArg)
	if e.Op != "set compat" || e.Msg == "" {
		t.Fatalf("error %#v", e)
	}
	if m := compatOf(t, n); m != CompatGoPekonode || m.String() != "go-pekonode" {
		t.Fatalf("after an invalid mode Compat = %v", m)
	}
	if s := Compat(7).String(); s != "Compat(7)" {
		t.Fatalf("Compat(7).String() = %q", s)
	}

	// What only the native protocol has is StatusState, even with arguments it would take.
	asError(t, n.KeyInstall("third"), StatusState)
	asError(t, n.KeyUse("second"), StatusState)
	asError(t, n.KeyRemove("second"), StatusState)
	asError(t, n.SetEncryption(EncryptionAccept), StatusState)
	asError(t, n.SetLabel("blue"), StatusState)
	if ids, err := n.KeyList(); err != nil || len(ids) != 2 {
		t.Fatalf("KeyList = %v, %v; want the two keys unchanged", ids, err)
	}

	if err := n.Join(); err != nil {
		t.Fatal(err)
	}
	asError(t, n.SetCompat(CompatNative), StatusState)
	asError(t, n.SetCompat(CompatGoPekonode), StatusState)
	if m := compatOf(t, n); m != CompatGoPekonode {
		t.Fatalf("after join Compat = %v", m)
	}

	n.Close()
	if err := n.SetCompat(CompatNative); !errors.Is(err, ErrClosed) {
		t.Fatalf("SetCompat after Close = %v, want ErrClosed", err)
	}
	if _, err := n.Compat(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Compat after Close = %v, want ErrClosed", err)
	}
}

// Two members in the compat mode (the end of a migration): they list each other with names
// and private data, and metadata published on either reaches the other.
func TestCompatMembersConvergeWithMetadata(t *testing.T) {
	a, err := New(compatConfig(), Member{Addr: "127.0.0.1", Name: "alpha", PrivateData: "alpha-data"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b, err := New(compatConfig(), Member{Addr: "127.0.0.1", Name: "beta", PrivateData: "beta-data"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	for _, n := range []*Node{a, b} {
		if err := n.SetCompat(CompatGoPekonode); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Join(); err != nil {
		t.Fatal(err)
	}
	seed(t, b, localPort(t, a))
	if err := b.Join(); err != nil {
		t.Fatal(err)
	}
	alpha := Member{Addr: "127.0.0.1", Port: localPort(t, a), Name: "alpha", PrivateData: "alpha-data"}
	beta := Member{Addr: "127.0.0.1", Port: localPort(t, b), Name: "beta", PrivateData: "beta-data"}
	lists := func(n *Node, want Member) bool {
		ms, err := n.Get()
		if err != nil || len(ms) != 2 {
			return false
		}
		for _, m := range ms {
			if m == want {
				return true
			}
		}
		return false
	}
	eventually(t, "the compat members list each other", func() (bool, string) {
		ga, _ := a.Get()
		gb, _ := b.Get()
		return lists(a, beta) && lists(b, alpha),
			fmt.Sprintf("alpha lists %s; beta lists %s", describe(ga), describe(gb))
	})

	for _, step := range []struct {
		from, to *Node
		data     string
	}{{a, b, "from alpha"}, {b, a, "from beta"}} {
		if err := step.from.Publish([]byte(step.data)); err != nil {
			t.Fatal(err)
		}
		eventually(t, "metadata "+step.data, func() (bool, string) {
			got, err := step.to.Read()
			return err == nil && string(got) == step.data, fmt.Sprintf("%q %v", got, err)
		})
	}
}
