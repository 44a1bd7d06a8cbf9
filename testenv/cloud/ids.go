package cloud

import (
	crand "crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"sync"

	"github.com/google/uuid"
)

// idSource hands out the identifiers the services generate: UUIDs for servers, volumes, attachments and BDMs,
// 32-hex ids for Keystone objects. Seeded, it repeats the same ids run after run, so a topology built twice
// from one seed names the same things. Tokens never come from here: they are secrets.
type idSource struct {
	mu sync.Mutex
	r  io.Reader
}

func newIDSource(seed int64) *idSource {
	if seed == 0 {
		return &idSource{r: crand.Reader}
	}
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], uint64(seed))
	return &idSource{r: mrand.NewChaCha8(key)}
}

func (s *idSource) read(n int) []byte {
	b := make([]byte, n)
	s.mu.Lock()
	defer s.mu.Unlock()
	// Both readers fill the buffer and never fail (crypto/rand since Go 1.24, ChaCha8 by construction).
	_, _ = io.ReadFull(s.r, b)
	return b
}

func (s *idSource) uuid() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Must cannot fire: the readers never fail (see read).
	return uuid.Must(uuid.NewRandomFromReader(s.r)).String()
}

// hex32 is Keystone's id format (uuid4().hex).
func (s *idSource) hex32() string { return hex.EncodeToString(s.read(16)) }

// reservationID is Nova's "r-" plus eight characters of [a-z0-9].
func (s *idSource) reservationID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := s.read(8)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return "r-" + string(b)
}

// mac is a Neutron port address (OpenStack's fa:16:3e prefix).
func (s *idSource) mac() string {
	b := s.read(3)
	return fmt.Sprintf("fa:16:3e:%02x:%02x:%02x", b[0], b[1], b[2])
}

// newToken returns an opaque token shaped like a Fernet token, always from the system's secure source.
func newToken() string {
	b := make([]byte, 140)
	_, _ = crand.Read(b)
	return "gAAAAA" + base64.RawURLEncoding.EncodeToString(b)
}

// newAuditID is a token's audit id (16 random bytes, URL-safe base64 without padding); like the token it is
// per request, so it does not come from the seeded ids.
func newAuditID() string {
	b := make([]byte, 16)
	_, _ = crand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
