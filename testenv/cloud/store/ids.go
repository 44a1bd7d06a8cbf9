package store

import (
	crand "crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"sync"

	"github.com/google/uuid"
)

// IDs hands out the identifiers the services generate: UUIDs for servers, volumes, attachments and BDMs,
// 32-hex ids for Keystone objects. Seeded, it repeats the same ids run after run, so a topology built twice
// from one seed names the same things. Tokens never come from here: they are secrets.
type IDs struct {
	mu sync.Mutex
	r  io.Reader
}

// NewIDs draws from seed, or from the system's secure source when seed is 0.
func NewIDs(seed int64) *IDs {
	if seed == 0 {
		return &IDs{r: crand.Reader}
	}
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], uint64(seed))
	return &IDs{r: mrand.NewChaCha8(key)}
}

func (s *IDs) read(n int) []byte {
	b := make([]byte, n)
	s.mu.Lock()
	defer s.mu.Unlock()
	// Both readers fill the buffer and never fail (crypto/rand since Go 1.24, ChaCha8 by construction).
	_, _ = io.ReadFull(s.r, b)
	return b
}

// UUID is a version 4 UUID.
func (s *IDs) UUID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Must cannot fire: the readers never fail (see read).
	return uuid.Must(uuid.NewRandomFromReader(s.r)).String()
}

// Hex32 is Keystone's id format (uuid4().hex).
func (s *IDs) Hex32() string { return hex.EncodeToString(s.read(16)) }

// ReservationID is Nova's "r-" plus eight characters of [a-z0-9].
func (s *IDs) ReservationID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := s.read(8)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return "r-" + string(b)
}

// MAC is a Neutron port address (OpenStack's fa:16:3e prefix).
func (s *IDs) MAC() string {
	b := s.read(3)
	return fmt.Sprintf("fa:16:3e:%02x:%02x:%02x", b[0], b[1], b[2])
}
