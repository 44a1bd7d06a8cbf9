package osapi

import (
	"context"
	"sort"

	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/services"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
)

// Volume is what the engine reads of a Cinder volume.
type Volume struct {
	ID          string
	Name        string
	Status      string
	Bootable    bool
	Multiattach bool
	Attachments []VolumeServerAttachment
}

// VolumeServerAttachment is one entry of a volume's attachments (only those Cinder considers attached).
type VolumeServerAttachment struct {
	ServerID     string
	AttachmentID string
	Device       string
	HostName     string
}

func volumeFrom(v volumes.Volume) Volume {
	out := Volume{ID: v.ID, Name: v.Name, Status: v.Status, Bootable: v.Bootable == "true", Multiattach: v.Multiattach}
	for _, a := range v.Attachments {
		out.Attachments = append(out.Attachments, VolumeServerAttachment{ServerID: a.ServerID, AttachmentID: a.AttachmentID, Device: a.Device, HostName: a.HostName})
	}
	return out
}

// GetVolume shows one volume.
func (c *Client) GetVolume(ctx context.Context, id string) (Volume, error) {
	return call(ctx, "show volume "+id, func(ctx context.Context) (Volume, error) {
		v, err := volumes.Get(ctx, c.volume, id).Extract()
		if err != nil {
			return Volume{}, err
		}
		return volumeFrom(*v), nil
	})
}

// ListVolumes lists every volume of every project.
func (c *Client) ListVolumes(ctx context.Context) ([]Volume, error) {
	return call(ctx, "list volumes", func(ctx context.Context) ([]Volume, error) {
		pages, err := volumes.List(c.volume, volumes.ListOpts{AllTenants: true}).AllPages(ctx)
		if err != nil {
			return nil, err
		}
		all, err := volumes.ExtractVolumes(pages)
		if err != nil {
			return nil, err
		}
		out := make([]Volume, 0, len(all))
		for _, v := range all {
			out = append(out, volumeFrom(v))
		}
		sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
		return out, nil
	})
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
