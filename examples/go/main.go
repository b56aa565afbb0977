// Command discovery is a small service-discovery member written with the pekonode Go
// binding: it joins a cluster, prints members as they join, change, fail and leave (from
// Node.Events), prints the cluster metadata whenever it changes, and leaves gracefully on
// Ctrl-C.
//
// Two members in two terminals (from the repository root, after `make lib`):
//
//	go run -C examples/go . -port 7946 -name web-1 -data role=web
//	go run -C examples/go . -port 7947 -join 127.0.0.1:7946 -name db-1 -data role=db -publish v1
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	pekonode "github.com/pekonode/pekonode/bindings/go"
)

func main() {
	os.Exit(run())
}

func run() int {
	addr := flag.String("addr", "127.0.0.1", "IP address the others reach this member at")
	listen := flag.String("listen", "", "IP address to bind (default: the -addr address)")
	port := flag.Uint("port", 7946, "UDP and TCP port (0 = any free port)")
	join := flag.String("join", "", "comma-separated addr:port of known members")
	name := flag.String("name", "", "this member's name")
	data := flag.String("data", "", "this member's private data, e.g. role=web")
	publish := flag.String("publish", "", "cluster metadata to publish after joining")
	key := flag.String("key", "", "shared secret authenticating every packet")
	useTCP := flag.Bool("tcp", false, "send everything over TCP")
	cycle := flag.Duration("cycle", 0, "gossip round period (0 = 500ms)")
	timeout := flag.Duration("timeout", 0, "failure timeout (0 = 5s, or 10 x cycle when longer)")
	consoleLog := flag.Bool("print", false, "the library's console log")
	runFor := flag.Duration("for", 0, "leave after this long (0 = until interrupted)")
	flag.Parse()
	if flag.NArg() > 0 || *port > 65535 {
		flag.Usage()
		return 2
	}
	seeds, err := parseSeeds(*join)
	if err != nil {
		fmt.Fprintln(os.Stderr, "discovery:", err)
		return 2
	}
	if *listen == "" {
		*listen = *addr
	}

	cfg := pekonode.Config{
		Cycle:      *cycle,
		Timeout:    *timeout,
		SecretKey:  *key,
		ListenAddr: *listen,
		IsPrint:    *consoleLog,
	}
	if *useTCP {
		cfg.Protocol = pekonode.ProtocolTCP
	}
	node, err := pekonode.New(cfg, pekonode.Member{
		Addr: *addr, Port: uint16(*port), Name: *name, PrivateData: *data,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "discovery:", err)
		return 1
	}
	defer node.Close()

	events := node.Events() // before Join, so no event is missed
	for _, s := range seeds {
		if err := node.Set(s); err != nil {
			fmt.Fprintln(os.Stderr, "discovery:", err)
			return 1
		}
	}
	if err := node.Join(); err != nil {
		fmt.Fprintln(os.Stderr, "discovery:", err)
		return 1
	}
	bound, _ := node.LocalPort()
	self := pekonode.Member{Addr: *addr, Port: bound}
	fmt.Printf("pekonode %s: %q at %s, %d known member(s)\n", pekonode.Version(), *name, self, len(seeds))
	if *publish != "" {
		if err := node.Publish([]byte(*publish)); err != nil {
			fmt.Fprintln(os.Stderr, "discovery:", err)
			return 1
		}
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	var deadline <-chan time.Time
	if *runFor > 0 {
		deadline = time.After(*runFor)
	}
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return 0
			}
			report(node, ev)
		case <-sig:
			fmt.Println("interrupted")
			return leave(node)
		case <-deadline:
			return leave(node)
		}
	}
}

func report(node *pekonode.Node, ev pekonode.Event) {
	if ev.Lost > 0 {
		fmt.Printf("(%d events lost)\n", ev.Lost)
	}
	m := ev.Member
	switch ev.Kind {
	case pekonode.EventMetadata:
		value, err := node.Read()
		if err != nil {
			fmt.Fprintln(os.Stderr, "discovery:", err)
			return
		}
		fmt.Printf("metadata  from %s: %q\n", m, value)
		return
	case pekonode.EventJoined, pekonode.EventUpdated:
		fmt.Printf("%-9s %s name=%q data=%q\n", ev.Kind, m, m.Name, m.PrivateData)
	default:
		fmt.Printf("%-9s %s\n", ev.Kind, m)
	}
	members, err := node.Get()
	if err != nil {
		fmt.Fprintln(os.Stderr, "discovery:", err)
		return
	}
	self, rest := members[0], members[1:]
	sort.Slice(rest, func(i, j int) bool { return rest[i].String() < rest[j].String() })
	fmt.Printf("  %d member(s):\n", len(members))
	for i, m := range append([]pekonode.Member{self}, rest...) {
		tag := ""
		if i == 0 {
			tag = " (this member)"
		}
		fmt.Printf("    %-21s %-12s %s%s\n", m, m.Name, m.PrivateData, tag)
	}
}

func leave(node *pekonode.Node) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := node.Leave(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		fmt.Fprintln(os.Stderr, "discovery: leave:", err)
		return 1
	}
	fmt.Println("left the cluster")
	return 0
}

// parseSeeds reads "addr:port,addr:port"; addresses must be IP literals ([::1]:7946 for IPv6).
func parseSeeds(list string) ([]pekonode.Member, error) {
	var seeds []pekonode.Member
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		host, p, err := net.SplitHostPort(s)
		if err != nil {
			return nil, fmt.Errorf("-join %q: %v", s, err)
		}
		port, err := strconv.ParseUint(p, 10, 16)
		if err != nil || port == 0 {
			return nil, fmt.Errorf("-join %q: bad port", s)
		}
		seeds = append(seeds, pekonode.Member{Addr: host, Port: uint16(port)})
	}
	return seeds, nil
}
