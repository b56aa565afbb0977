// Command gopekonode_golden prints the golden packets of the Go pekonode compatibility mode:
// the packet struct of github.com/dpwgc/pekonode v1.0.8 as its issue describes it (field order
// as declared), encoded by Go's encoding/json, one packet per line as "name<TAB>json". Run it
// with `go run .` here; its output is committed as src/wire/tests/gopekonode_golden.txt, which
// our encoder must reproduce byte for byte and our decoder must read. It needs Go 1.22 or later
// (go.mod says so): from 1.22 encoding/json writes U+0008 and U+000C as \b and \f, as the
// goldens hold them; Go 1.21 wrote \u0008 and \u000c.
package main

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
)

type Node struct {
	Addr        string
	Port        int
	Name        string
	PrivateData string
}

type Metadata struct {
	Data   []byte
	Update int64
}

type Packet struct {
	Node      Node
	Infected  map[string]bool
	Metadata  Metadata
	IsUpdate  bool
	IsSwap    uint8
	SecretKey string
}

func token(key string) string {
	if key == "" {
		return ""
	}
	sum := md5.Sum([]byte(key))
	return hex.EncodeToString(sum[:])
}

func main() {
	node := Node{Addr: "127.0.0.1", Port: 8000, Name: "node-1", PrivateData: "role=web"}
	cases := []struct {
		name string
		p    Packet
	}{
		// A heartbeat carries the zero Metadata (a nil Data), as the original's cycle task makes it.
		{"heartbeat", Packet{Node: node, Infected: map[string]bool{"127.0.0.1:8000": true}, SecretKey: token("")}},
		{"heartbeat_keyed_relayed", Packet{Node: node, Infected: map[string]bool{"127.0.0.1:8000": true, "127.0.0.1:8002": true, "127.0.0.1:8001": true, "10.0.0.7:8000": true}, SecretKey: token("secret")}},
		{"publish", Packet{Node: node, Infected: map[string]bool{"127.0.0.1:8000": true}, Metadata: Metadata{Data: []byte("hello, cluster"), Update: 1764670668494123456}, IsUpdate: true, SecretKey: token("secret")}},
		{"swap_request", Packet{Node: node, Infected: map[string]bool{}, Metadata: Metadata{Data: []byte{0, 1, 2, 0xfe, 0xff}, Update: 1764670668494123456}, IsSwap: 1, SecretKey: token("secret")}},
		{"swap_response", Packet{Node: node, Infected: map[string]bool{}, Metadata: Metadata{Data: []byte("v2"), Update: 1764670669000000000}, IsSwap: 2, SecretKey: token("secret")}},
		// A node that never published exchanges the Data it was created with: empty, not nil.
		{"never_published", Packet{Node: Node{Addr: "::1", Port: 65535}, Infected: map[string]bool{}, Metadata: Metadata{Data: []byte("")}, IsSwap: 1}},
		{"escapes", Packet{Node: Node{Addr: "127.0.0.1", Port: 1, Name: "<a&b> \"q\" \\ \n\t\r\b\f\x01\x7f é 日本 \u2028\u2029 😀", PrivateData: "x/y"}, Infected: map[string]bool{"127.0.0.1:1": true}, SecretKey: token("k")}},
	}
	for _, c := range cases {
		b, err := json.Marshal(c.p)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("%s\t%s\n", c.name, b)
	}
}
