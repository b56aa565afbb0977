package pekonode_test

import (
	"context"
	"fmt"
	"log"
	"time"

	pekonode "github.com/pekonode/pekonode/bindings/go"
)

// A member that joins through a known one, publishes, and prints membership changes.
func Example() {
	node, err := pekonode.New(
		pekonode.Config{SecretKey: "our cluster", ListenAddr: "127.0.0.1"},
		pekonode.Member{Addr: "127.0.0.1", Port: 7946, Name: "web-1", PrivateData: "role=web"},
	)
	if err != nil {
		log.Fatal(err)
	}
	defer node.Close()

	events := node.Events()
	if err := node.Set(pekonode.Member{Addr: "127.0.0.1", Port: 7947}); err != nil {
		log.Fatal(err)
	}
	if err := node.Join(); err != nil { // binds UDP and TCP 7946
		log.Fatal(err)
	}
	if err := node.Publish([]byte("v1")); err != nil {
		log.Fatal(err)
	}

	timeout := time.After(time.Minute)
	for {
		select {
		case ev := <-events:
			fmt.Println(ev.Kind, ev.Member, ev.Member.Name)
			if ev.Kind == pekonode.EventMetadata {
				data, _ := node.Read()
				fmt.Printf("metadata: %q\n", data)
			}
		case <-timeout:
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			node.Leave(ctx)
			return
		}
	}
}
