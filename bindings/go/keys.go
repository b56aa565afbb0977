package pekonode

/*
#include <stdlib.h>
#include "pekonode.h"
*/
import "C"

import (
	"strings"
	"unsafe"
)

// Encryption is how a member treats plain frames (peko_encryption_set): the three steps of
// switching a running cluster to keys, each done on every member before the next.
type Encryption uint32

const (
	// EncryptionAccept sends plain frames and accepts plain and sealed ones: a member without
	// a key, or one given a key at run time and not told to send sealed frames yet.
	EncryptionAccept Encryption = C.PEKO_ENCRYPTION_ACCEPT
	// EncryptionSend sends sealed frames and still accepts plain ones. Needs a key.
	EncryptionSend Encryption = C.PEKO_ENCRYPTION_SEND
	// EncryptionRequire accepts only sealed frames: a member configured with a SecretKey.
	EncryptionRequire Encryption = C.PEKO_ENCRYPTION_REQUIRE
)

func (e Encryption) String() string {
	switch e {
	case EncryptionAccept:
		return "accept"
	case EncryptionSend:
		return "send"
	case EncryptionRequire:
		return "require"
	}
	return "Encryption(" + itoa(uint64(e)) + ")"
}

func itoa(v uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(b[i:])
		}
	}
}

// keyCall runs a peko_key_* call that takes a key.
func (n *Node) keyCall(op string, key string, f func(h *C.peko_node, k *C.char) C.peko_status) error {
	var strs cstrings
	defer strs.free()
	k, err := strs.required(op, "key", key)
	if err != nil {
		return err
	}
	return n.with(op, func(h *C.peko_node) error {
		return check(op, f(h, k))
	})
}

// KeyInstall adds key (a secret, as Config.SecretKey) to the keyring: frames sealed with it
// open from now on. The first key of a member without one becomes its primary, but the member
// keeps sending plain frames (EncryptionAccept) until SetEncryption. A full keyring (8 keys) is
// StatusState; an empty key StatusInvalidArg.
func (n *Node) KeyInstall(key string) error {
	return n.keyCall("key install", key, func(h *C.peko_node, k *C.char) C.peko_status {
		return C.peko_key_install(h, k)
	})
}

// KeyUse makes the installed key the primary: what this member sends is sealed with it.
func (n *Node) KeyUse(key string) error {
	return n.keyCall("key use", key, func(h *C.peko_node, k *C.char) C.peko_status {
		return C.peko_key_use(h, k)
	})
}

// KeyRemove removes the installed key; the primary is StatusState (use another first).
func (n *Node) KeyRemove(key string) error {
	return n.keyCall("key remove", key, func(h *C.peko_node, k *C.char) C.peko_status {
		return C.peko_key_remove(h, k)
	})
}

// KeyList returns the installed keys' ids (KeyID), the primary first.
func (n *Node) KeyList() ([]string, error) {
	var ids []string
	err := n.with("key list", func(h *C.peko_node) error {
		var need C.size_t
		st := C.peko_key_list(h, nil, 0, &need)
		for tries := 0; st == C.PEKO_ERR_BUFFER_TOO_SMALL && tries < 64; tries++ {
			buf := C.malloc(need)
			st = C.peko_key_list(h, (*C.char)(buf), need, &need)
			if st == C.PEKO_OK { // only then does buf hold a NUL-terminated list
				text := C.GoString((*C.char)(buf))
				C.free(buf)
				ids = strings.Split(text, "\n")
				ids = ids[:len(ids)-1] // each id ends in '\n'
				return nil
			}
			C.free(buf)
		}
		return check("key list", st)
	})
	return ids, err
}

// KeyID returns the id KeyList gives key: 16 hex digits derived from it, which name a key
// without revealing it.
func KeyID(key string) (string, error) {
	var strs cstrings
	defer strs.free()
	k, err := strs.required("key id", "key", key)
	if err != nil {
		return "", err
	}
	var buf [C.PEKO_KEY_ID_LEN + 1]C.char
	if err := check("key id", C.peko_key_id(k, &buf[0], C.size_t(len(buf)))); err != nil {
		return "", err
	}
	return C.GoString((*C.char)(unsafe.Pointer(&buf[0]))), nil
}

// SetEncryption sets how this member treats plain frames; EncryptionSend and
// EncryptionRequire without a key are StatusState.
func (n *Node) SetEncryption(mode Encryption) error {
	return n.with("set encryption", func(h *C.peko_node) error {
		return check("set encryption", C.peko_encryption_set(h, C.uint32_t(mode)))
	})
}

// Encryption returns this member's encryption mode.
func (n *Node) Encryption() (Encryption, error) {
	var mode C.uint32_t
	err := n.with("encryption", func(h *C.peko_node) error {
		return check("encryption", C.peko_encryption_get(h, &mode))
	})
	return Encryption(mode), err
}

// SetLabel sets the cluster label, before Join (StatusState after): frames of other labels, or
// none, are dropped and counted (Stats.DroppedLabel), with or without keys. At most 255 bytes;
// "" for none.
func (n *Node) SetLabel(label string) error {
	var strs cstrings
	defer strs.free()
	l, err := strs.optional("set label", "label", label)
	if err != nil {
		return err
	}
	return n.with("set label", func(h *C.peko_node) error {
		return check("set label", C.peko_label_set(h, l))
	})
}
