// Command outside is the program tests/go/outside_module.sh builds in a new module outside the
// checkout, the way the README's Go section tells a user to: three members on 127.0.0.1
// (ports chosen by the OS) must each list all three, and a publish by one must reach the
// other two. It exits 1 on failure, within a minute or two at most.
package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"time"

	pekonode "github.com/pekonode/pekonode/bindings/go"
)

// Every wait polls its condition up to this long (a loaded machine, the race detector on).
const generous = 60 * time.Second

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "outside:", err)
		os.Exit(1)
	}
	fmt.Println("outside: OK")
}

func run() error {
	// LibraryBuild keeps the stamp in the binary: the test looks for it there.
	fmt.Printf("pekonode %s, built against %s\n", pekonode.Version(), pekonode.LibraryBuild())
	cfg := pekonode.Config{Cycle: 100 * time.Millisecond, ListenAddr: "127.0.0.1"}
	var nodes []*pekonode.Node
	defer func() {
		for _, n := range nodes {
			n.Close()
		}
	}()
	var ports []uint16
	for i, name := range []string{"a", "b", "c"} {
		n, err := pekonode.New(cfg, pekonode.Member{Addr: "127.0.0.1", Name: name})
		if err != nil {
			return err
		}
		nodes = append(nodes, n)
		if i > 0 {
			if err := n.Set(pekonode.Member{Addr: "127.0.0.1", Port: ports[0]}); err != nil {
				return err
			}
		}
		if err := n.Join(); err != nil {
			return err
		}
		p, err := n.LocalPort()
		if err != nil {
			return err
		}
		ports = append(ports, p)
	}
	fmt.Println("members on ports", ports)

	err := poll("every member lists all three", func() (bool, string) {
		for i, n := range nodes {
			list, err := n.Get()
			if err != nil {
				return false, err.Error()
			}
			seen := map[uint16]bool{}
			for _, m := range list {
				seen[m.Port] = true
			}
			for _, p := range ports {
				if !seen[p] {
					return false, fmt.Sprintf("member %d lists %v", i, list)
				}
			}
		}
		return true, ""
	})
	if err != nil {
		return err
	}

	want := []byte("hello from a")
	if err := nodes[0].Publish(want); err != nil {
		return err
	}
	err = poll("the publish reaches b and c", func() (bool, string) {
		for i, n := range nodes[1:] {
			got, err := n.Read()
			if err != nil {
				return false, err.Error()
			}
			if !bytes.Equal(got, want) {
				return false, fmt.Sprintf("member %d reads %q", i+1, got)
			}
		}
		return true, ""
	})
	if err != nil {
		return err
	}

	// Leave waits until its notices are handed to the network: as slow as the rest under -race
	// on a loaded machine.
	ctx, cancel := context.WithTimeout(context.Background(), generous)
	defer cancel()
	return nodes[2].Leave(ctx)
}

// poll checks cond every 20ms until it holds or the generous deadline passes.
func poll(what string, cond func() (bool, string)) error {
	deadline := time.Now().Add(generous)
	for {
		ok, detail := cond()
		if ok {
			fmt.Println(what)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not within %v; last: %s", what, generous, detail)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
