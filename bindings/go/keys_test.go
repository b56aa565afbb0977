package pekonode

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func newUnjoined(t *testing.T, cfg Config, name string) *Node {
	t.Helper()
	n, err := New(cfg, Member{Addr: "127.0.0.1", Name: name})
	if err != nil {
		t.Fatalf("New(%s): %v", name, err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func mustID(t *testing.T, key string) string {
	t.Helper()
	id, err := KeyID(key)
	if err != nil || len(id) != 16 {
		t.Fatalf("KeyID(%q) = %q, %v", key, id, err)
	}
	return id
}

func TestKeyCallsAndErrors(t *testing.T) {
	n := newUnjoined(t, testConfig, "keys")
	if ids, err := n.KeyList(); err != nil || len(ids) != 0 {
		t.Fatalf("KeyList = %v, %v; want none", ids, err)
	}
	if m, err := n.Encryption(); err != nil || m != EncryptionAccept {
		t.Fatalf("Encryption = %v, %v", m, err)
	}
	asError(t, n.SetEncryption(EncryptionSend), StatusState)
	asError(t, n.KeyInstall(""), StatusInvalidArg)
	asError(t, n.KeyInstall("a\x00b"), StatusInvalidArg)
	for _, k := range []string{"a", "b"} {
		if err := n.KeyInstall(k); err != nil {
			t.Fatal(err)
		}
	}
	if ids, _ := n.KeyList(); !reflect.DeepEqual(ids, []string{mustID(t, "a"), mustID(t, "b")}) {
		t.Fatalf("KeyList = %v", ids)
	}
	asError(t, n.KeyRemove("a"), StatusState)
	asError(t, n.KeyUse("c"), StatusInvalidArg)
	if err := n.KeyUse("b"); err != nil {
		t.Fatal(err)
	}
	if err := n.KeyRemove("a"); err != nil {
		t.Fatal(err)
	}
	if ids, _ := n.KeyList(); !reflect.DeepEqual(ids, []string{mustID(t, "b")}) {
		t.Fatalf("KeyList = %v", ids)
	}
	if err := n.SetEncryption(EncryptionRequire); err != nil {
		t.Fatal(err)
	}
	if m, _ := n.Encryption(); m != EncryptionRequire || m.String() != "require" {
		t.Fatalf("Encryption = %v", m)
	}
	asError(t, n.SetLabel(strings.Repeat("x", 256)), StatusInvalidArg)
	if err := n.SetLabel("blue"); err != nil {
		t.Fatal(err)
	}
	if err := n.Join(); err != nil {
		t.Fatal(err)
	}
	asError(t, n.SetLabel("late"), StatusState)
}

// Three members rotate their key, each step one member at a time and more than the timeout
// (2 s) apart: every list stays whole throughout.
func TestKeyRotationWithoutARemoval(t *testing.T) {
	cfg := testConfig
	cfg.SecretKey = "old"
	var nodes []*Node
	for i := 0; i < 3; i++ {
		n := newUnjoined(t, cfg, fmt.Sprintf("r%d", i))
		if err := n.Join(); err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			seed(t, n, localPort(t, nodes[0]))
		}
		nodes = append(nodes, n)
	}
	whole := func() (bool, string) {
		for _, n := range nodes {
			if st, err := n.Stats(); err != nil || st.MembersAlive != 3 {
				return false, fmt.Sprintf("%+v %v", st, err)
			}
		}
		return true, ""
	}
	eventually(t, "three members", whole)
	rounds := func(step string) {
		start, _ := nodes[0].Stats()
		eventually(t, step, func() (bool, string) {
			if ok, detail := whole(); !ok {
				t.Fatalf("%s: a member lost one: %s", step, detail)
			}
			st, _ := nodes[0].Stats()
			return st.Round >= start.Round+22, fmt.Sprint(st.Round)
		})
	}
	for _, step := range []struct {
		name string
		f    func(*Node) error
	}{
		{"install", func(n *Node) error { return n.KeyInstall("new") }},
		{"use", func(n *Node) error { return n.KeyUse("new") }},
		{"remove", func(n *Node) error { return n.KeyRemove("old") }},
	} {
		for _, n := range nodes {
			if err := step.f(n); err != nil {
				t.Fatal(err)
			}
			rounds(step.name)
		}
	}
	for _, n := range nodes {
		if ids, _ := n.KeyList(); !reflect.DeepEqual(ids, []string{mustID(t, "new")}) {
			t.Fatalf("KeyList = %v", ids)
		}
	}
}

func TestOtherLabelsStayApart(t *testing.T) {
	a := newUnjoined(t, testConfig, "a")
	b := newUnjoined(t, testConfig, "b")
	if err := a.SetLabel("blue"); err != nil {
		t.Fatal(err)
	}
	if err := b.SetLabel("green"); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*Node{a, b} {
		if err := n.Join(); err != nil {
			t.Fatal(err)
		}
	}
	seed(t, b, localPort(t, a))
	eventually(t, "a drops b's frames", func() (bool, string) {
		st, err := a.Stats()
		return err == nil && st.DroppedLabel > 0, fmt.Sprintf("%+v %v", st, err)
	})
	if ms, _ := a.Get(); len(ms) != 1 {
		t.Fatalf("a lists %s", describe(ms))
	}
}
