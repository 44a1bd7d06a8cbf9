package iscsi

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strings"
)

// DefaultPort is the iSCSI port a portal without one means (RFC 7143).
const DefaultPort = 3260

// maxNameLen is RFC 3720's limit on an iSCSI name, in bytes.
const maxNameLen = 223

// Portal is an iSCSI target's address: an IP address (never a host name, never with a zone) and a TCP port.
type Portal struct {
	IP   netip.Addr
	Port uint16
}

// String renders the portal the way iscsiadm's -p and Cinder's target_portal write it: a.b.c.d:port, or
// [v6]:port.
func (p Portal) String() string {
	return netip.AddrPortFrom(p.IP, p.Port).String()
}

func (p Portal) check() error {
	switch {
	case !p.IP.IsValid():
		return errors.New("no IP address")
	case p.IP.Zone() != "":
		return fmt.Errorf("IP address %s has a zone", p.IP)
	case p.IP.IsUnspecified(), p.IP.IsMulticast():
		return fmt.Errorf("%s cannot be a target's address", p.IP)
	case p.Port == 0:
		return errors.New("port 0")
	}
	return nil
}

// ParsePortal reads a portal as Cinder's connection_info and the operator write it: a.b.c.d:port or [v6]:port,
// the port defaulting to 3260 when missing. Host names and unbracketed IPv6 are refused: the first would be
// resolved on the compute host, out of osdr's sight, and the second is ambiguous (is the last group a port?).
func ParsePortal(s string) (Portal, error) {
	p, err := parsePortal(s)
	if err != nil {
		return Portal{}, fmt.Errorf("portal %q: %w", s, err)
	}
	return p, nil
}

func parsePortal(s string) (Portal, error) {
	host, port, hasPort := s, "", false
	if rest, ok := strings.CutPrefix(s, "["); ok {
		inside, after, ok := strings.Cut(rest, "]")
		if !ok {
			return Portal{}, errors.New("no closing bracket")
		}
		host = inside
		if after != "" {
			if port, hasPort = strings.CutPrefix(after, ":"); !hasPort {
				return Portal{}, errors.New("text after the closing bracket is not :port")
			}
		}
	} else if i := strings.LastIndexByte(s, ':'); i >= 0 {
		host, port, hasPort = s[:i], s[i+1:], true
		if strings.Contains(host, ":") {
			return Portal{}, errors.New("an IPv6 address must be written in brackets")
		}
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return Portal{}, fmt.Errorf("%q is not an IP address", host)
	}
	if bracketed := strings.HasPrefix(s, "["); bracketed != ip.Is6() {
		return Portal{}, errors.New("brackets are for IPv6 addresses only")
	}
	p := Portal{IP: ip, Port: DefaultPort}
	if hasPort {
		n, ok := parseDecimal(port, 1, math.MaxUint16)
		if !ok {
			return Portal{}, fmt.Errorf("port %q is not a number from 1 to 65535", port)
		}
		p.Port = uint16(n)
	}
	return p, p.check()
}

// CheckName reports whether name is an iSCSI name osdr will put on a command line or accept from iscsiadm:
// iqn.YYYY-MM.reversed.domain[:anything], eui. and 16 hex digits, or naa. and 16 or 32 hex digits (RFC 3720,
// RFC 3980). Only RFC 3720's ASCII characters are allowed (letters, digits, '-', '.', ':'), upper case included
// because targets do not always normalise their names; that set needs no shell quoting at all.
func CheckName(name string) error {
	if err := checkName(name); err != nil {
		// Cut like a line of output: a name of a megabyte would otherwise fill the error.
		return fmt.Errorf("iSCSI name %s: %w", showLine(name), err)
	}
	return nil
}

func checkName(name string) error {
	if len(name) > maxNameLen {
		return fmt.Errorf("longer than %d bytes", maxNameLen)
	}
	if hex, ok := strings.CutPrefix(name, "eui."); ok {
		return checkHex(hex, 16)
	}
	if hex, ok := strings.CutPrefix(name, "naa."); ok {
		return checkHex(hex, 16, 32)
	}
	rest, ok := strings.CutPrefix(name, "iqn.")
	if !ok {
		return errors.New(`does not start with "iqn.", "eui." or "naa."`)
	}
	if len(rest) < 8 || !allDigits(rest[0:4]) || rest[4] != '-' || rest[7] != '.' {
		return errors.New("iqn. is not followed by a date YYYY-MM and a dot")
	}
	if month := rest[5:7]; !allDigits(month) || month < "01" || month > "12" {
		return fmt.Errorf("month %q is not 01 to 12", month)
	}
	authority, unique, hasUnique := strings.Cut(rest[8:], ":")
	for label := range strings.SplitSeq(authority, ".") {
		if label == "" || strings.IndexFunc(label, func(r rune) bool { return !isAlnum(r) && r != '-' }) >= 0 {
			return fmt.Errorf("naming authority %q is not a reversed domain name", authority)
		}
	}
	if hasUnique {
		if unique == "" {
			return errors.New("nothing after the colon")
		}
		if i := strings.IndexFunc(unique, func(r rune) bool { return !isAlnum(r) && !strings.ContainsRune("-.:", r) }); i >= 0 {
			return fmt.Errorf("character %q is not allowed in an iSCSI name", unique[i])
		}
	}
	return nil
}

func checkHex(s string, lengths ...int) error {
	for _, n := range lengths {
		if len(s) == n && strings.IndexFunc(s, func(r rune) bool { return !strings.ContainsRune("0123456789abcdefABCDEF", r) }) < 0 {
			return nil
		}
	}
	return fmt.Errorf("%q is not %v hex digits", s, lengths)
}

func isAlnum(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

func allDigits(s string) bool {
	return s != "" && strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }) < 0
}

// parseDecimal accepts only the spelling printf("%d") produces (no sign on positives, no leading zeros), so
// that what the parsers accept formats back to the same text, and nothing like strtol's " +015" slips through.
func parseDecimal(s string, lo, hi int64) (int64, bool) {
	digits := strings.TrimPrefix(s, "-")
	if !allDigits(digits) || len(digits) > 18 || (digits[0] == '0' && len(s) > 1) {
		return 0, false
	}
	var n int64
	for _, c := range digits {
		n = n*10 + int64(c-'0')
	}
	if digits != s {
		n = -n
	}
	return n, n >= lo && n <= hi
}

// Target is a validated iSCSI target and the portal to reach it through. Obtain one from NewTarget or
// ParseTarget; the zero Target is refused by Login.
type Target struct {
	iqn    string
	portal Portal
}

// NewTarget validates an iSCSI name (see CheckName) and a portal.
func NewTarget(iqn string, portal Portal) (Target, error) {
	if err := CheckName(iqn); err != nil {
		return Target{}, err
	}
	if err := portal.check(); err != nil {
		return Target{}, fmt.Errorf("portal %s of %s: %w", portal, iqn, err)
	}
	return Target{iqn: iqn, portal: portal}, nil
}

// ParseTarget validates a target as Cinder's connection_info gives it (target_iqn, target_portal).
func ParseTarget(iqn, portal string) (Target, error) {
	p, err := ParsePortal(portal)
	if err != nil {
		return Target{}, fmt.Errorf("target %q: %w", iqn, err)
	}
	return NewTarget(iqn, p)
}

// IQN is the target's iSCSI name (also for eui. and naa. names).
func (t Target) IQN() string { return t.iqn }

// Portal is the address the target is reached at.
func (t Target) Portal() Portal { return t.portal }
