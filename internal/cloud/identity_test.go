package cloud

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/osdr/osdr/internal/settings"
	"github.com/osdr/osdr/testenv"
)

func TestCompareFailsClosed(t *testing.T) {
	cinder := &Database{Address: "db.example.net:3306", Schema: "cinder"}
	nova := []Database{{Address: "db.example.net:3306", Schema: "nova_cell1"}}
	full := Identity{AuthURL: "https://keystone.example.net:5000/v3", Region: "RegionOne", Cinder: cinder, Nova: nova}
	with := func(edit func(*Identity)) Identity {
		id := full
		id.Nova = append([]Database(nil), full.Nova...)
		edit(&id)
		return id
	}
	for _, tc := range []struct {
		name          string
		recorded, now Identity
		want          error  // with acceptPartial false
		partialOK     bool   // the error goes away with acceptPartial
		mentions      string // the comparison names this
	}{
		{"the same cloud", full, full, nil, true, ""},
		{"Keystone URL written differently", with(func(id *Identity) { id.AuthURL = "HTTPS://Keystone.example.net:5000/v3/" }), full, nil, true, ""},
		{"another Keystone", with(func(id *Identity) { id.AuthURL = "https://other.example.net:5000/v3" }), full, ErrOtherCloud, false, "other.example.net"},
		{"another region", with(func(id *Identity) { id.Region = "RegionTwo" }), full, ErrOtherCloud, false, "RegionTwo"},
		{"another Cinder schema on the same server", with(func(id *Identity) { id.Cinder = &Database{Address: cinder.Address, Schema: "cinder_old"} }), full, ErrOtherCloud, false, "cinder_old"},
		{"another Galera cluster behind the same address", with(func(id *Identity) {
			id.Cinder = &Database{Server: "galera a", Address: cinder.Address, Schema: "cinder"}
		}),
			with(func(id *Identity) {
				id.Cinder = &Database{Server: "galera b", Address: cinder.Address, Schema: "cinder"}
			}), ErrOtherCloud, false, "galera a"},
		{"the same server reached at another address", with(func(id *Identity) {
			id.Cinder = &Database{Server: "server_uuid u", Address: "10.0.0.5:3306", Schema: "cinder"}
		}),
			with(func(id *Identity) {
				id.Cinder = &Database{Server: "server_uuid u", Address: "db.example.net:3306", Schema: "cinder"}
			}), nil, true, ""},
		{"an empty identity matches nothing", Identity{}, full, ErrPartialIdentity, true, "Keystone"},
		{"taken without the databases", with(func(id *Identity) { id.Cinder, id.Nova = nil, nil }), full, ErrPartialIdentity, true, "Cinder database"},
		{"taken without Keystone (--from-db)", with(func(id *Identity) { id.AuthURL, id.Region = "", "" }), full, ErrPartialIdentity, true, "Keystone"},
		{"this command has no databases", full, with(func(id *Identity) { id.Cinder, id.Nova = nil, nil }), ErrPartialIdentity, true, "Nova cell 0"},
		{"a cell more than recorded", full, with(func(id *Identity) { id.Nova = append(id.Nova, Database{Address: "x:3306", Schema: "nova_cell2"}) }), ErrPartialIdentity, true, "Nova cell 1"},
		{"a mismatch is never accepted", with(func(id *Identity) { id.AuthURL = "https://other.example.net:5000/v3"; id.Cinder = nil }), full, ErrOtherCloud, false, "other.example.net"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmp := Compare(tc.recorded, tc.now)
			err := cmp.Err(false)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Err(false) = %v, want %v\n%s", err, tc.want, cmp)
			}
			if got := cmp.Err(true); (got == nil) != tc.partialOK {
				t.Errorf("Err(true) = %v, want an error: %v", got, !tc.partialOK)
			}
			if tc.mentions != "" && !strings.Contains(err.Error()+cmp.String(), tc.mentions) {
				t.Errorf("neither the error nor the comparison names %q:\n%v\n%s", tc.mentions, err, cmp)
			}
		})
	}
}

// On MariaDB, which has neither a server uuid nor (outside Galera) a cluster uuid, a database is known by
// where it is reached and its schema.
func TestIdentityAsksTheDatabases(t *testing.T) {
	_, cinderDSN := testenv.MySQLWithSchema(t)
	_, novaDSN := testenv.MySQLWithSchema(t)
	s, err := (&settings.Flags{}).Resolve(func(name string) string {
		return map[string]string{settings.EnvCinderDBDSN: cinderDSN, settings.EnvNovaDBDSN: novaDSN}[name]
	})
	if err != nil {
		t.Fatal(err)
	}
	c := Open(s, Options{})
	defer c.Close()
	id, err := c.Identity(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cinder, _ := settings.ParseDSN(cinderDSN)
	if id.Cinder == nil || id.Cinder.Address != cinder.Config().Addr || id.Cinder.Schema != cinder.Config().DBName || len(id.Nova) != 1 {
		t.Fatalf("identity = %+v", id)
	}
	if id.AuthURL != "" {
		t.Errorf("no cloud configured, but the identity names Keystone %s", id.AuthURL)
	}
	if err := Compare(id, id).Err(false); !errors.Is(err, ErrPartialIdentity) {
		t.Errorf("an identity without Keystone compared with itself: %v, want a partial identity", err)
	}
}
