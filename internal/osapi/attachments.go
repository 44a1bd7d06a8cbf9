package osapi

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/attachments"
	"github.com/gophercloud/gophercloud/v2/openstack/utils"
)

// AttachmentTarget is what Cinder's attachment record says of where a volume's data is: the driver type and,
// for iSCSI, the target. Cinder shows an attachment's connection_info to admins.
type AttachmentTarget struct {
	AttachmentID     string
	VolumeID         string
	ServerID         string
	DriverVolumeType string // "" when the attachment shows no connection_info
	IQN              string
	Portal           string
	LUN              int
}

// ErrAttachmentsAPI means the cloud's Cinder speaks no attachments API (microversion 3.27, Ocata).
var ErrAttachmentsAPI = errors.New("Cinder has no attachments API (microversion 3.27+)")

// ListAttachmentTargets lists every project's attachments with their connection info, keyed by attachment
// id. Cinder's attachments listing (GET /attachments/detail?all_tenants=1) stops at osapi_max_limit (1000 by
// default) without a next link, unlike its volumes listing, so the pages are asked for by marker until one
// comes back empty.
func (c *Client) ListAttachmentTargets(ctx context.Context) (map[string]AttachmentTarget, error) {
	major, minor, err := utils.ParseMicroversion(c.volume.Microversion)
	if err != nil || major < 3 || (major == 3 && minor < 27) {
		return nil, ErrAttachmentsAPI
	}
	return call(ctx, "list volume attachments", func(ctx context.Context) (map[string]AttachmentTarget, error) {
		out := map[string]AttachmentTarget{}
		marker := ""
		for {
			pages, err := attachments.List(c.volume, attachments.ListOpts{AllTenants: true, Marker: marker}).AllPages(ctx)
			if err != nil {
				return nil, err
			}
			page, err := attachments.ExtractAttachments(pages)
			if err != nil {
				return nil, err
			}
			if len(page) == 0 {
				return out, nil
			}
			for _, a := range page {
				if _, seen := out[a.ID]; seen {
					// A server that ignored the marker would hand the same page back for ever.
					return nil, fmt.Errorf("the attachments listing after marker %s repeats attachment %s: it does not page", marker, a.ID)
				}
				out[a.ID] = attachmentTarget(a)
			}
			marker = page[len(page)-1].ID
		}
	})
}

func attachmentTarget(a attachments.Attachment) AttachmentTarget {
	t := AttachmentTarget{AttachmentID: a.ID, VolumeID: a.VolumeID, ServerID: a.Instance}
	t.DriverVolumeType, _ = a.ConnectionInfo["driver_volume_type"].(string)
	data, _ := a.ConnectionInfo["data"].(map[string]any)
	t.IQN, _ = data["target_iqn"].(string)
	t.Portal, _ = data["target_portal"].(string)
	switch lun := data["target_lun"].(type) {
	case float64:
		t.LUN = int(lun)
	case string:
		t.LUN, _ = strconv.Atoi(lun)
	}
	return t
}
