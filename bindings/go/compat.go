package pekonode

/*
#include "pekonode.h"
*/
import "C"

import "strconv"

// Compat is the protocol a Node speaks (peko_compat_set), chosen with SetCompat between New
// and Join.
type Compat uint32

// The protocols. The values are those of the C library's PEKO_COMPAT_* constants (checked when
// the package compiles).
const (
	// CompatNative is pekonode's own protocol, the default (PEKO_COMPAT_NATIVE).
	CompatNative Compat = 0
	// CompatGoPekonode speaks only the JSON packets of the Go library
	// github.com/dpwgc/pekonode (PEKO_COMPAT_GO_PEKONODE), so the member can join a running
	// cluster of Go nodes and replace them one at a time; members in this mode also form a
	// cluster among themselves. The packets are plain JSON and carry the MD5 of
	// Config.SecretKey in clear: anyone who sees one can join. In this mode KeyInstall, KeyUse,
	// KeyRemove, SetEncryption and SetLabel are StatusState, and Leave only goes silent.
	CompatGoPekonode Compat = 1
)

// A compile-time check that the literals above equal the C constants: an index other than 0
// into a one-element array (or a negative Compat) does not compile.
func _() {
	var x [1]struct{}
	_ = x[CompatNative-C.PEKO_COMPAT_NATIVE]
	_ = x[CompatGoPekonode-C.PEKO_COMPAT_GO_PEKONODE]
}

func (c Compat) String() string {
	switch c {
	case CompatNative:
		return "native"
	case CompatGoPekonode:
		return "go-pekonode"
	}
	return "Compat(" + strconv.FormatUint(uint64(c), 10) + ")"
}

// SetCompat chooses the protocol, between New and Join (StatusState after). A value other than
// CompatNative and CompatGoPekonode is StatusInvalidArg and changes nothing.
func (n *Node) SetCompat(mode Compat) error {
	return n.with("set compat", func(h *C.peko_node) error {
		return check("set compat", C.peko_compat_set(h, C.uint32_t(mode)))
	})
}

// Compat returns the protocol chosen (CompatNative unless SetCompat changed it).
func (n *Node) Compat() (Compat, error) {
	var mode C.uint32_t
	err := n.with("compat", func(h *C.peko_node) error {
		return check("compat", C.peko_compat_get(h, &mode))
	})
	return Compat(mode), err
}
