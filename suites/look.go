package suites

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/osdr/osdr/internal/cloud"
	"github.com/osdr/osdr/internal/osapi"
	"github.com/osdr/osdr/internal/sshx"
	"github.com/osdr/osdr/recover"
)

// look is the view of one look at a group of checks: what one of them read, the others read from it, so a
// host's checks read its iSCSI sessions once and a server's volumes share one listing of its attachments.
// A look at many checks (bulk) reads the APIs and the databases in bulk: one listing of the servers and one
// of the volumes instead of a request per check, and the attachment rows counted a few hundred at a time.
func (v *view) look(bulk bool) *view {
	r := &reads{done: map[string]func() (any, error){}}
	look := *v
	look.api = &lookAPI{apiReader: v.api, reads: r, bulk: bulk}
	if v.machines != nil {
		look.machines = &lookMachines{machines: v.machines, reads: r}
	}
	if bulk && v.dbs != nil {
		look.liveRows = func(ctx context.Context) (rowCounts, error) {
			return remember(r, "rows", func() (rowCounts, error) { return v.countRows(ctx) })
		}
	}
	return &look
}

// reads are the reads of one look, each made once by whichever check asks first.
type reads struct {
	mu   sync.Mutex
	done map[string]func() (any, error)
}

func remember[T any](r *reads, key string, read func() (T, error)) (T, error) {
	r.mu.Lock()
	once, ok := r.done[key]
	if !ok {
		once = sync.OnceValues(func() (any, error) { return read() })
		r.done[key] = once
	}
	r.mu.Unlock()
	v, err := once()
	return v.(T), err
}

type lookAPI struct {
	apiReader
	reads *reads
	bulk  bool
}

func (a *lookAPI) GetServer(ctx context.Context, id string) (osapi.Server, error) {
	if !a.bulk {
		return a.apiReader.GetServer(ctx, id)
	}
	all, err := remember(a.reads, "servers", func() (map[string]osapi.Server, error) {
		list, err := a.apiReader.ListServers(ctx, "")
		return index(list, func(s osapi.Server) string { return s.ID }), err
	})
	if s, ok := all[id]; ok || err != nil {
		return s, err
	}
	// Not listed: asked for on its own, so the check says what Nova says of it.
	return a.apiReader.GetServer(ctx, id)
}

func (a *lookAPI) GetVolume(ctx context.Context, id string) (osapi.Volume, error) {
	if !a.bulk {
		return a.apiReader.GetVolume(ctx, id)
	}
	all, err := remember(a.reads, "volumes", func() (map[string]osapi.Volume, error) {
		list, err := a.apiReader.ListVolumes(ctx)
		return index(list, func(v osapi.Volume) string { return v.ID }), err
	})
	if v, ok := all[id]; ok || err != nil {
		return v, err
	}
	return a.apiReader.GetVolume(ctx, id)
}

func (a *lookAPI) ListVolumeAttachments(ctx context.Context, serverID string) ([]osapi.VolumeAttachment, error) {
	return remember(a.reads, "attachments of "+serverID, func() ([]osapi.VolumeAttachment, error) {
		return a.apiReader.ListVolumeAttachments(ctx, serverID)
	})
}

func index[T any](list []T, id func(T) string) map[string]T {
	out := make(map[string]T, len(list))
	for _, x := range list {
		out[id(x)] = x
	}
	return out
}

type lookMachines struct {
	machines
	reads *reads
}

func (m *lookMachines) RunOnHost(ctx context.Context, host, command string) (sshx.Result, error) {
	return remember(m.reads, "host "+host+"\x00"+command, func() (sshx.Result, error) { return m.machines.RunOnHost(ctx, host, command) })
}

func (m *lookMachines) RunOnGuest(ctx context.Context, g cloud.Guest, command string) (sshx.Result, error) {
	return remember(m.reads, "guest "+g.ID+"\x00"+command, func() (sshx.Result, error) { return m.machines.RunOnGuest(ctx, g, command) })
}

// rowKey is an attachment whose rows a check counts: the volume, its instance, and the instance's Nova cell.
type rowKey struct {
	volume, instance string
	cell             int
}

// rowCounts are the live rows of attachments, counted in bulk; cellErrs say which Nova cells could not be
// read.
type rowCounts struct {
	cinder, nova map[rowKey]int
	cellErrs     map[int]error
}

// rowsPerStatement keeps a bulk count's IN list far below MySQL's 65,535 placeholders and its statement
// small for the server's max_allowed_packet.
const rowsPerStatement = 500

// countRows counts the live rows of every attachment the row checks cover, a few hundred volumes a
// statement, with the same conditions as cinderRows and novaRows.
func (v *view) countRows(ctx context.Context) (rowCounts, error) {
	counts := rowCounts{cinder: map[rowKey]int{}, nova: map[rowKey]int{}, cellErrs: map[int]error{}}
	for chunk := range slices.Chunk(v.rowKeys, rowsPerStatement) {
		var err error
		if v.schema == recover.SchemaLegacy {
			err = countInto(ctx, v.dbs.Cinder, `SELECT id, '', COUNT(*) FROM volumes
				WHERE deleted=0 AND attach_status='attached' AND instance_id<>0 AND id IN (%s) GROUP BY id`, chunk, counts.cinder, true)
		} else {
			err = countInto(ctx, v.dbs.Cinder, `SELECT volume_id, instance_uuid, COUNT(*) FROM volume_attachment
				WHERE deleted=0 AND attach_status<>'detached' AND volume_id IN (%s) GROUP BY volume_id, instance_uuid`, chunk, counts.cinder, false)
		}
		if err != nil {
			return counts, err
		}
		byCell := map[int][]rowKey{}
		for _, k := range chunk {
			byCell[k.cell] = append(byCell[k.cell], k)
		}
		for cellIndex, keys := range byCell {
			cell, err := v.dbs.Cell(cellIndex)
			if err == nil {
				err = countInto(ctx, cell, `SELECT volume_id, instance_uuid, COUNT(*) FROM block_device_mapping
					WHERE deleted=0 AND volume_id IN (%s) GROUP BY volume_id, instance_uuid`, keys, counts.nova, false)
			}
			if err != nil {
				counts.cellErrs[cellIndex] = err
			}
		}
	}
	return counts, nil
}

// countInto runs a grouped count over keys' volumes (the query's %s is their placeholders) and sets each
// key's count, zero when no row matched. byVolume: the rows name no instance (the query's second column is
// empty), so the count is the volume's whatever its instance.
func countInto(ctx context.Context, db *sql.DB, query string, keys []rowKey, into map[rowKey]int, byVolume bool) error {
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k.volume
	}
	rows, err := db.QueryContext(ctx, fmt.Sprintf(query, strings.TrimSuffix(strings.Repeat("?,", len(keys)), ",")), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	type pair struct{ volume, instance string }
	found := map[pair]int{}
	for rows.Next() {
		var p pair
		var n int
		if err := rows.Scan(&p.volume, &p.instance, &n); err != nil {
			return err
		}
		found[p] = n
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, k := range keys {
		p := pair{k.volume, k.instance}
		if byVolume {
			p.instance = ""
		}
		into[k] = found[p]
	}
	return nil
}
