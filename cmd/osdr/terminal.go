package main

import (
	"bytes"
	"fmt"
	"io"
	"unicode/utf8"
)

// terminalSafe writes what it is given with control characters other than newline and tab shown as Go
// escapes (\x1b), so that a name a tenant chose for an instance or a volume, printed in a plan or a summary,
// cannot clear the operator's screen, move the cursor or retitle the window. JSON output has none to show:
// encoding/json escapes them itself.
type terminalSafe struct{ w io.Writer }

func (t terminalSafe) Write(p []byte) (int, error) {
	if !bytes.ContainsFunc(p, isControl) && utf8.Valid(p) {
		return t.w.Write(p)
	}
	var b bytes.Buffer
	for rest := p; len(rest) > 0; {
		r, size := utf8.DecodeRune(rest)
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, rest[0])
		case isControl(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.Write(rest[:size])
		}
		rest = rest[size:]
	}
	if _, err := t.w.Write(b.Bytes()); err != nil {
		return 0, err
	}
	return len(p), nil
}

// isControl is a C0 or C1 control character or DEL, except the newline and the tab text is laid out with.
func isControl(r rune) bool {
	return (r < 0x20 && r != '\n' && r != '\t') || (r >= 0x7f && r <= 0x9f)
}
