package iscsi

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// The output of `iscsiadm -m session -u -r 15` on open-iscsi 2.1.11, byte for byte but for the IQN.
const factsLogout = "" +
	"Logging out of session [sid: 15, target: " + volumeIQN + ", portal: 10.0.0.1,3260]\n" +
	"Logout of [sid: 15, target: " + volumeIQN + ", portal: 10.0.0.1,3260] successful.\n"

func TestParseLogout(t *testing.T) {
	sid15 := SID{15}
	tests := []struct {
		name        string
		stdout      string
		sid         SID
		iqn         string
		wantInError string // "" for success
		wantReused  bool   // a *SIDMismatchError
	}{
		{"facts example", factsLogout, sid15, volumeIQN, "", false},
		{"last newline missing", strings.TrimSuffix(factsLogout, "\n"), sid15, volumeIQN, "", false},
		{"IPv6 portal, unbracketed as iscsiadm prints it",
			strings.ReplaceAll(factsLogout, "10.0.0.1,3260", "fd00::1,3260"), sid15, volumeIQN, "", false},
		{"another target on that sid", factsLogout, sid15, otherIQN, "", true},
		{"another sid", factsLogout, SID{16}, volumeIQN, "for that sid", false},
		{"sid 1 is not sid 15", strings.ReplaceAll(factsLogout, "sid: 15", "sid: 1"), sid15, volumeIQN, "for that sid", false},
		{"zero sid", factsLogout, SID{}, volumeIQN, "zero SID", false},
		{"nothing", "", sid15, volumeIQN, "0 lines", false},
		{"only the first line", strings.SplitAfter(factsLogout, "\n")[0], sid15, volumeIQN, "1 lines", false},
		{"three lines", factsLogout + strings.SplitAfter(factsLogout, "\n")[1], sid15, volumeIQN, "3 lines", false},
		{"lines swapped", strings.SplitAfter(factsLogout, "\n")[1] + strings.SplitAfter(factsLogout, "\n")[0],
			sid15, volumeIQN, "line 1", false},
		{"lines disagree", strings.Replace(factsLogout, "10.0.0.1,3260]\n", "10.0.0.2,3260]\n", 1),
			sid15, volumeIQN, "different sessions", false},
		{"not successful", strings.Replace(factsLogout, "] successful.", "] failed.", 1), sid15, volumeIQN, "line 2", false},
		{"bracketed IPv6", strings.ReplaceAll(factsLogout, "10.0.0.1,3260", "[fd00::1],3260"), sid15, volumeIQN, "line 1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ParseLogout(tt.stdout, tt.sid, tt.iqn)
			var mismatch *SIDMismatchError
			switch {
			case tt.wantReused:
				if !errors.As(err, &mismatch) || mismatch.Got != volumeIQN || mismatch.Want != tt.iqn || mismatch.SID != tt.sid {
					t.Fatalf("error %v, want a *SIDMismatchError naming %s", err, volumeIQN)
				}
			case tt.wantInError == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.wantInError != "" && (err == nil || !strings.Contains(err.Error(), tt.wantInError)):
				t.Fatalf("error %v, want one containing %q", err, tt.wantInError)
			case errors.As(err, &mismatch):
				t.Fatalf("error %v must not be a *SIDMismatchError", err)
			}
		})
	}
}

func TestParseLogin(t *testing.T) {
	v4 := mustTarget(t, volumeIQN, "10.0.0.1:3260")
	v6 := mustTarget(t, volumeIQN, "[fd00::1]:3260")
	// open-iscsi 2.1.11 prints only the second line by default; up to 2.1.10 both.
	logging := "Logging in to [iface: default, target: " + volumeIQN + ", portal: 10.0.0.1,3260]\n"
	success := "Login to [iface: default, target: " + volumeIQN + ", portal: 10.0.0.1,3260] successful.\n"
	tests := []struct {
		name        string
		stdout      string
		target      Target
		wantInError string
	}{
		{"2.1.11", success, v4, ""},
		{"2.1.10 and before (facts §7)", logging + success, v4, ""},
		{"multiple", strings.Replace(logging, "]\n", "] (multiple)\n", 1) + success, v4, ""},
		{"two ifaces, asynchronous order", logging + strings.ReplaceAll(logging, "default", "iser0") +
			success + strings.ReplaceAll(success, "default", "iser0"), v4, ""},
		{"IPv6", strings.ReplaceAll(logging+success, "10.0.0.1,3260", "fd00::1,3260"), v6, ""},
		{"IPv6 spelled long", strings.ReplaceAll(success, "10.0.0.1,3260", "fd00:0:0:0:0:0:0:1,3260"), v6, ""},
		{"nothing", "", v4, "no \"Login to"},
		{"only Logging in", logging, v4, "no \"Login to"},
		{"iface without success", logging + strings.ReplaceAll(logging, "default", "iser0") + success, v4, "iface iser0"},
		{"another target", strings.ReplaceAll(success, volumeIQN, otherIQN), v4, "line 1"},
		{"another portal", strings.ReplaceAll(success, "10.0.0.1,3260", "10.0.0.2,3260"), v4, "line 1"},
		{"another port", strings.ReplaceAll(success, "10.0.0.1,3260", "10.0.0.1,860"), v4, "line 1"},
		{"v4 output for a v6 target", success, v6, "line 1"},
		{"stray line", success + "iscsiadm: Could not log into all portals\n", v4, "line 2"},
		{"failure message", "iscsiadm: Could not login to [iface: default, target: " + volumeIQN +
			", portal: 10.0.0.1,3260].\n", v4, "line 1"},
		{"zero target", success, Target{}, "zero Target"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ParseLogin(tt.stdout, tt.target)
			switch {
			case tt.wantInError == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.wantInError != "" && (err == nil || !strings.Contains(err.Error(), tt.wantInError)):
				t.Fatalf("error %v, want one containing %q", err, tt.wantInError)
			}
		})
	}
}

func TestVerifyLogoutTarget(t *testing.T) {
	portal := Portal{netip.MustParseAddr("10.0.0.1"), 3260}
	sessions := []Session{
		{Transport: "tcp", SID: SID{14}, Portal: portal, TPGT: 1, IQN: otherIQN},
		{Transport: "tcp", SID: SID{15}, Portal: portal, TPGT: 1, IQN: volumeIQN},
	}
	if err := VerifyLogoutTarget(sessions, SID{15}, volumeIQN); err != nil {
		t.Fatalf("matching sid and IQN: %v", err)
	}
	tests := []struct {
		name     string
		sessions []Session
		sid      SID
		iqn      string
		wantGot  string // of the *SIDMismatchError; "-" for another error
	}{
		{"sid gone", sessions, SID{16}, volumeIQN, ""},
		{"no sessions at all", nil, SID{15}, volumeIQN, ""},
		{"sid reused by another target", sessions, SID{14}, volumeIQN, otherIQN},
		{"sid listed twice, once for another target", append([]Session{sessions[1]}, Session{SID: SID{15}, IQN: otherIQN}), SID{15}, volumeIQN, otherIQN},
		{"zero sid", sessions, SID{}, volumeIQN, "-"},
		{"invalid expected IQN", sessions, SID{15}, "", "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyLogoutTarget(tt.sessions, tt.sid, tt.iqn)
			var mismatch *SIDMismatchError
			isMismatch := errors.As(err, &mismatch)
			switch {
			case err == nil:
				t.Fatal("verified, want an error")
			case tt.wantGot == "-" && isMismatch:
				t.Fatalf("error %v is a *SIDMismatchError, want another", err)
			case tt.wantGot != "-" && (!isMismatch || mismatch.Got != tt.wantGot || mismatch.SID != tt.sid || mismatch.Want != tt.iqn):
				t.Fatalf("error %#v, want a *SIDMismatchError with Got %q", err, tt.wantGot)
			}
		})
	}
}

func TestSIDMismatchErrorMessages(t *testing.T) {
	gone := (&SIDMismatchError{SID: SID{15}, Want: volumeIQN}).Error()
	reused := (&SIDMismatchError{SID: SID{15}, Want: volumeIQN, Got: otherIQN}).Error()
	if !strings.Contains(gone, "no session has sid 15") || !strings.Contains(gone, volumeIQN) {
		t.Errorf("gone: %q", gone)
	}
	if !strings.Contains(reused, "sid 15 belongs to target "+otherIQN) || !strings.Contains(reused, volumeIQN) {
		t.Errorf("reused: %q", reused)
	}
}
