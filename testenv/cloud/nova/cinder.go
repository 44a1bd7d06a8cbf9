package nova

import (
	"context"
	"database/sql"
	"errors"

	"github.com/google/uuid"

	"github.com/osdr/osdr/testenv/cloud/cinder"
	"github.com/osdr/osdr/testenv/cloud/osapi"
)

// novaInvalidInput is how Nova reports a refusal Cinder answered with 400: its cinder client's exception text
// (message, status, Cinder's request id) wrapped in InvalidInput.
func novaInvalidInput(e *osapi.Error) *osapi.Error {
	return osapi.BadRequest("Invalid input received: %s (HTTP %d) (Request-ID: req-%s)", e.Message, e.Code, uuid.NewString())
}

// CinderQueries answers what Cinder asks of Nova (cinder.Nova), from Nova's database.
type CinderQueries struct{ DB *sql.DB }

var _ cinder.Nova = CinderQueries{}

// ServerUsesAttachment is get_server_volume's answer as attachment_deletion_allowed reads it.
func (n CinderQueries) ServerUsesAttachment(ctx context.Context, serverID, volumeID, attachmentID string) (bool, error) {
	var held int
	if err := n.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM block_device_mapping WHERE deleted = 0
		AND instance_uuid = ? AND volume_id = ? AND attachment_id = ?`, serverID, volumeID, attachmentID).Scan(&held); err != nil {
		return false, err
	}
	return held > 0, nil
}

// LegacyInstance reads the instances row the nova-volume table's instance_id names, deleted or not.
func (n CinderQueries) LegacyInstance(ctx context.Context, id int64) (uuid, host sql.NullString, err error) {
	err = n.DB.QueryRowContext(ctx, "SELECT uuid, host FROM instances WHERE id = ?", id).Scan(&uuid, &host)
	if errors.Is(err, sql.ErrNoRows) {
		return sql.NullString{}, sql.NullString{}, nil
	}
	return uuid, host, err
}

// VolumeServices lists nova-volume's rows of the services table.
func (n CinderQueries) VolumeServices(ctx context.Context, host, binary string) ([]cinder.NovaService, error) {
	query := "SELECT host, `binary`, disabled_reason, disabled, created_at, updated_at FROM services " +
		"WHERE deleted = 0 AND `binary` = 'nova-volume'"
	var args []any
	if host != "" {
		query, args = query+" AND host = ?", append(args, host)
	}
	if binary != "" {
		query, args = query+" AND `binary` = ?", append(args, binary)
	}
	rows, err := n.DB.QueryContext(ctx, query+" ORDER BY id", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []cinder.NovaService
	for rows.Next() {
		var s cinder.NovaService
		if err := rows.Scan(&s.Host, &s.Binary, &s.DisabledReason, &s.Disabled, &s.CreatedAt, &s.UpdatedAt); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
