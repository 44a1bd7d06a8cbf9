package cloud

import (
	"database/sql"
	"fmt"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/osdr/osdr/internal/settings"
)

// OpenDB opens a Cinder or Nova database the way the engine needs it: row counts are the rows a statement
// matched (clientFoundRows), so they can be checked against the plan whatever the rows held; times are UTC.
func OpenDB(dsn settings.DSN) (*sql.DB, error) {
	cfg := dsn.Config()
	cfg.ClientFoundRows = true
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("configure the connection to %s: %w", cfg.Addr, err)
	}
	return sql.OpenDB(connector), nil
}
