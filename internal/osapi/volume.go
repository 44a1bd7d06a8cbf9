package osapi

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/services"
	"github.com/gophercloud/gophercloud/v2/openstack/utils"
)

// Volume is what the engine reads of a Cinder volume.
type Volume struct {
	ID          string
	Name        string
	Status      string
	Bootable    bool
	Multiattach bool
	Attachments []VolumeServerAttachment
	Updated     time.Time // when Cinder last saved the volume
}

// VolumeServerAttachment is one entry of a volume's attachments (only those Cinder considers attached).
type VolumeServerAttachment struct {
	ServerID     string
	AttachmentID string
	Device       string
	HostName     string
}

// GetVolume shows one volume.
func (c *Client) GetVolume(ctx context.Context, id string) (Volume, error) {
	return call(ctx, "show volume "+id, func(ctx context.Context) (Volume, error) {
		var body struct {
			Volume volumeWire `json:"volume"`
		}
		if _, err := c.volume.Get(ctx, c.volume.ServiceURL("volumes", id), &body, &gophercloud.RequestOpts{OkCodes: []int{200}}); err != nil {
			return Volume{}, err
		}
		return body.Volume.volume(), nil
	})
}

// ListVolumes lists every volume of every project.
func (c *Client) ListVolumes(ctx context.Context) ([]Volume, error) {
	return call(ctx, "list volumes", func(ctx context.Context) ([]Volume, error) {
		out, err := c.listVolumes(ctx, url.Values{"all_tenants": {"true"}})
		sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
		return out, err
	})
}

func (c *Client) listVolumes(ctx context.Context, q url.Values) ([]Volume, error) {
	return listPages[volumeWire, volumePage](ctx, c.volume, c.volume.ServiceURL("volumes", "detail")+"?"+q.Encode(), volumeWire.volume)
}

// VolumeServices lists cinder-volume services.
func (c *Client) VolumeServices(ctx context.Context) ([]Service, error) {
	return call(ctx, "list volume services", func(ctx context.Context) ([]Service, error) {
		pages, err := services.List(c.volume, services.ListOpts{Binary: "cinder-volume"}).AllPages(ctx)
		if err != nil {
			return nil, err
		}
		all, err := services.ExtractServices(pages)
		if err != nil {
			return nil, err
		}
		out := make([]Service, 0, len(all))
		for _, s := range all {
			out = append(out, Service{Binary: s.Binary, Host: s.Host, State: s.State, Status: s.Status})
		}
		return out, nil
	})
}

// VolumeChangesSince says whether Cinder filters a volume listing by when volumes were last saved
// (updated_at with a comparator, microversion 3.60, Victoria).
func (c *Client) VolumeChangesSince() bool {
	major, minor, err := utils.ParseMicroversion(c.volume.Microversion)
	return err == nil && (major > 3 || (major == 3 && minor >= 60))
}

// ListVolumesChangedSince lists every project's volumes Cinder saved at or after since
// (updated_at=gte:..., microversion 3.60+): one call answers every volume a recovery waits on.
func (c *Client) ListVolumesChangedSince(ctx context.Context, since time.Time) ([]Volume, error) {
	what := "list volumes changed since " + since.Format(time.RFC3339)
	if !c.VolumeChangesSince() {
		return nil, fmt.Errorf("%s: Cinder at microversion %s filters no listing by updated_at (3.60+)", what, c.volume.Microversion)
	}
	return call(ctx, what, func(ctx context.Context) ([]Volume, error) {
		return c.listVolumes(ctx, url.Values{"all_tenants": {"1"}, "updated_at": {"gte:" + since.UTC().Format("2006-01-02T15:04:05")}})
	})
}
