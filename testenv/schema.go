package testenv

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"strings"
)

//go:embed schema/*.sql
var schemaFiles embed.FS

// Schema is one set of table definitions a database can be loaded with.
type Schema string

const (
	// SchemaCinder is Cinder's schema as every release from 2023.1 to 2026.1 (and Zed) has it.
	SchemaCinder Schema = "cinder.sql"
	// SchemaCinderLegacy is the nova-volume-era volumes table the Operations Guide's SQL was written for.
	SchemaCinderLegacy Schema = "cinder_legacy.sql"
	// SchemaNova is Nova's cell database (instances, block_device_mapping, services, caches, faults).
	SchemaNova Schema = "nova.sql"
)

// Statements returns the schema's CREATE statements in dependency order.
func (s Schema) Statements() ([]string, error) {
	raw, err := schemaFiles.ReadFile("schema/" + string(s))
	if err != nil {
		return nil, fmt.Errorf("read schema %s: %w", s, err)
	}
	var stmts []string
	for _, chunk := range strings.Split(string(raw), ";\n") {
		var lines []string
		for _, line := range strings.Split(chunk, "\n") {
			if !strings.HasPrefix(strings.TrimSpace(line), "--") {
				lines = append(lines, line)
			}
		}
		if stmt := strings.TrimSpace(strings.Join(lines, "\n")); stmt != "" {
			stmts = append(stmts, stmt)
		}
	}
	return stmts, nil
}

// LoadSchema creates the schema's tables in the database db is connected to.
func LoadSchema(ctx context.Context, db *sql.DB, s Schema) error {
	stmts, err := s.Statements()
	if err != nil {
		return err
	}
	for _, stmt := range stmts {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("load schema %s: %w\n%s", s, err, stmt)
		}
	}
	return nil
}
