package cloud

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// Identity names a cloud, so that evidence taken on one cloud (a manifest, a run) is never acted on in
// another. Each part records what its source could know; a part left empty is unknown. It never holds
// credentials.
type Identity struct {
	// AuthURL and Region are the Keystone endpoint and region the settings name; empty when none was
	// configured (a snapshot --from-db without a cloud).
	AuthURL string `json:"auth_url,omitempty"`
	Region  string `json:"region,omitempty"`
	// Cinder is Cinder's database; nil when no database was configured.
	Cinder *Database `json:"cinder_db,omitempty"`
	// Nova are the Nova cell databases in cell order; empty when none was configured.
	Nova []Database `json:"nova_dbs,omitempty"`
}

// Database identifies one database: the server it lives on and the schema (database name) in it.
type Database struct {
	// Server is the server's own identity when it has one: "server_uuid <uuid>" (MySQL's @@server_uuid) or
	// "galera <uuid>" (wsrep_cluster_state_uuid, the same on every node of a Galera cluster). Empty on a
	// server that has neither (a single MariaDB): Address identifies it then.
	Server string `json:"server,omitempty"`
	// Address is host:port as the settings reach it.
	Address string `json:"address"`
	Schema  string `json:"schema"`
}

func (d Database) String() string {
	if d.Server != "" {
		return fmt.Sprintf("%s at %s (%s)", d.Schema, d.Address, d.Server)
	}
	return d.Schema + " at " + d.Address
}

// Endpoint is the Keystone URL and region the settings name, read without contacting anything: a drill's
// guards decide on it before any of the cloud is opened.
func (c *Cloud) Endpoint() (authURL, region string) {
	if !c.settings.Cloud.Configured() {
		return "", ""
	}
	return c.settings.Cloud.AuthURL(), c.settings.Cloud.Region()
}

// Identity is what this cloud's settings and databases say it is. The databases are asked only when they are
// configured.
func (c *Cloud) Identity(ctx context.Context) (Identity, error) {
	id := Identity{}
	id.AuthURL, id.Region = c.Endpoint()
	dbs, ok, err := c.OptionalDatabases(ctx)
	if err != nil || !ok {
		return id, err
	}
	cinderDSN, _ := c.settings.Databases.Cinder()
	cinder, err := databaseIdentity(ctx, dbs.Cinder, cinderDSN.Config())
	if err != nil {
		return Identity{}, fmt.Errorf("identify the Cinder database: %w", err)
	}
	id.Cinder = &cinder
	cells, _ := c.settings.Databases.NovaCells()
	for i, cell := range cells {
		nova, err := databaseIdentity(ctx, dbs.Cells[i], cell.Config())
		if err != nil {
			return Identity{}, fmt.Errorf("identify the database of Nova cell %d: %w", i, err)
		}
		id.Nova = append(id.Nova, nova)
	}
	return id, nil
}

// databaseIdentity asks the server who it is: a Galera cluster's state uuid, else MySQL's server uuid, else
// (MariaDB has no server uuid) only where it is reached.
func databaseIdentity(ctx context.Context, db *sql.DB, cfg *mysql.Config) (Database, error) {
	d := Database{Address: cfg.Addr, Schema: cfg.DBName}
	var name, value string
	err := db.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'wsrep_cluster_state_uuid'").Scan(&name, &value)
	switch {
	case err == nil && value != "":
		d.Server = "galera " + value
		return d, nil
	case err != nil && !errors.Is(err, sql.ErrNoRows):
		return Database{}, err
	}
	var uuid sql.NullString
	err = db.QueryRowContext(ctx, "SELECT @@server_uuid").Scan(&uuid)
	var myErr *mysql.MySQLError
	switch {
	case err == nil && uuid.String != "":
		d.Server = "server_uuid " + uuid.String
	case errors.As(err, &myErr) && myErr.Number == 1193: // unknown system variable: MariaDB
	case err != nil:
		return Database{}, err
	}
	return d, nil
}

// Errors of an identity comparison: evidence of another cloud is refused outright; evidence that does not
// record all of what identifies a cloud is refused unless the operator accepts a partial identity.
var (
	ErrOtherCloud      = errors.New("taken on another cloud")
	ErrPartialIdentity = errors.New("the evidence does not record enough to tell it belongs to this cloud")
)

// Verdict is how one part of two identities compares.
type Verdict string

const (
	VerdictMatch    Verdict = "match"
	VerdictMismatch Verdict = "MISMATCH"
	VerdictUnknown  Verdict = "unknown"
)

// FieldComparison is one part of an identity, as recorded and as it is now.
type FieldComparison struct {
	Field    string  `json:"field"`
	Recorded string  `json:"recorded"`
	Now      string  `json:"now"`
	Verdict  Verdict `json:"verdict"`
}

// Comparison is every part of two identities side by side.
type Comparison []FieldComparison

const unknown = "(unknown)"

// Compare sets the identity recorded with some evidence beside the identity of the cloud now. A part
// unknown on either side is unknown: it never counts as a match.
func Compare(recorded, now Identity) Comparison {
	var out Comparison
	text := func(field, rec, cur string) {
		fc := FieldComparison{Field: field, Recorded: orUnknown(rec), Now: orUnknown(cur)}
		switch {
		case rec == "" || cur == "":
			fc.Verdict = VerdictUnknown
		case rec == cur:
			fc.Verdict = VerdictMatch
		default:
			fc.Verdict = VerdictMismatch
		}
		out = append(out, fc)
	}
	text("Keystone", normalizeURL(recorded.AuthURL), normalizeURL(now.AuthURL))
	text("region", recorded.Region, now.Region)
	database := func(field string, rec, cur *Database) {
		fc := FieldComparison{Field: field, Recorded: unknown, Now: unknown, Verdict: VerdictUnknown}
		if rec != nil {
			fc.Recorded = rec.String()
		}
		if cur != nil {
			fc.Now = cur.String()
		}
		if rec != nil && cur != nil {
			fc.Verdict = rec.compare(*cur)
		}
		out = append(out, fc)
	}
	database("Cinder database", recorded.Cinder, now.Cinder)
	for i := range max(len(recorded.Nova), len(now.Nova), 1) {
		database(fmt.Sprintf("Nova cell %d database", i), at(recorded.Nova, i), at(now.Nova, i))
	}
	return out
}

// compare tells two databases apart by the strongest identity both have: the server's own, else where it is
// reached; the schema must be the same either way.
func (d Database) compare(other Database) Verdict {
	if d.Schema != other.Schema {
		return VerdictMismatch
	}
	if d.Server != "" && other.Server != "" {
		if d.Server == other.Server {
			return VerdictMatch
		}
		return VerdictMismatch
	}
	if d.Address == other.Address {
		return VerdictMatch
	}
	return VerdictMismatch
}

func at(dbs []Database, i int) *Database {
	if i < len(dbs) {
		return &dbs[i]
	}
	return nil
}

func orUnknown(s string) string {
	if s == "" {
		return unknown
	}
	return s
}

// Err refuses on any mismatch, naming both sides, and on any unknown part unless acceptPartial.
func (c Comparison) Err(acceptPartial bool) error {
	var mismatched, unknownParts []string
	for _, f := range c {
		switch f.Verdict {
		case VerdictMismatch:
			mismatched = append(mismatched, fmt.Sprintf("%s: recorded %s, this cloud %s", f.Field, f.Recorded, f.Now))
		case VerdictUnknown:
			unknownParts = append(unknownParts, f.Field)
		}
	}
	if len(mismatched) > 0 {
		return fmt.Errorf("%w: %s", ErrOtherCloud, strings.Join(mismatched, "; "))
	}
	if len(unknownParts) > 0 && !acceptPartial {
		return fmt.Errorf("%w: %s unknown on one side (give --accept-partial-identity to go on with what matches)", ErrPartialIdentity, strings.Join(unknownParts, ", "))
	}
	return nil
}

// String lays the comparison out for a plan.
func (c Comparison) String() string {
	var b strings.Builder
	for _, f := range c {
		fmt.Fprintf(&b, "%-22s %-8s recorded %s; now %s\n", f.Field, f.Verdict, f.Recorded, f.Now)
	}
	return b.String()
}

// normalizeURL compares URLs the way Keystone serves them: scheme and host case-insensitive, no trailing slash.
func normalizeURL(s string) string {
	s = strings.TrimRight(s, "/")
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return s
	}
	host, path, _ := strings.Cut(rest, "/")
	if path != "" {
		path = "/" + path
	}
	return strings.ToLower(scheme) + "://" + strings.ToLower(host) + path
}
