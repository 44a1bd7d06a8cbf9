package osapi

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/services"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/volumeattach"
)

// Server is what the engine reads of a Nova server.
type Server struct {
	ID           string
	Name         string
	Status       string // ACTIVE, SHUTOFF, REBOOT, HARD_REBOOT, ERROR, ...
	VMState      string
	TaskState    string // "" when no task runs
	PowerState   int
	Host         string
	InstanceName string              // libvirt domain name
	HostStatus   string              // UP, DOWN, UNKNOWN, MAINTENANCE (microversion 2.16+), "" before
	Volumes      []string            // ids from os-extended-volumes:volumes_attached
	Addresses    map[string][]string // network → addresses
	Fault        string
	Tags         []string  // microversion 2.26+
	Updated      time.Time // when Nova last saved the server: what changes-since compares
	Deleted      bool      // a changes-since listing includes servers deleted since
}

// Running says whether Nova considers the server up: ACTIVE, power running, no task.
func (s Server) Running() bool {
	return s.VMState == "active" && s.PowerState == 1 && s.TaskState == ""
}

// ListServers lists every server of every project, on one host when host is not empty.
func (c *Client) ListServers(ctx context.Context, host string) ([]Server, error) {
	return call(ctx, "list servers", func(ctx context.Context) ([]Server, error) {
		q := url.Values{"all_tenants": {"true"}}
		if host != "" {
			q.Set("host", host)
		}
		return c.listServers(ctx, q)
	})
}

// ListServersChangedSince lists every project's servers Nova saved at or after since (changes-since, which
// every microversion takes), deleted ones included: one call answers every instance a recovery waits on.
func (c *Client) ListServersChangedSince(ctx context.Context, since time.Time) ([]Server, error) {
	return call(ctx, "list servers changed since "+since.Format(time.RFC3339), func(ctx context.Context) ([]Server, error) {
		return c.listServers(ctx, url.Values{"all_tenants": {"true"}, "changes-since": {since.UTC().Format(time.RFC3339)}})
	})
}

func (c *Client) listServers(ctx context.Context, q url.Values) ([]Server, error) {
	out, err := listPages[serverWire, serverPage](ctx, c.compute, c.compute.ServiceURL("servers", "detail")+"?"+q.Encode(), serverWire.server)
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// GetServer shows one server.
func (c *Client) GetServer(ctx context.Context, id string) (Server, error) {
	return call(ctx, "show server "+id, func(ctx context.Context) (Server, error) {
		var body struct {
			Server serverWire `json:"server"`
		}
		if _, err := c.compute.Get(ctx, c.compute.ServiceURL("servers", id), &body, &gophercloud.RequestOpts{OkCodes: []int{200}}); err != nil {
			return Server{}, err
		}
		return body.Server.server(), nil
	})
}

// RebootHard asks Nova for a HARD reboot and returns the request id Nova answered with, which is the request
// id of the reboot's instance action. SOFT is refused on SHUTOFF servers and sends a server whose domain is
// gone to ERROR, so the recovery never uses it.
func (c *Client) RebootHard(ctx context.Context, id string) (string, error) {
	res := servers.Reboot(ctx, c.compute, id, servers.RebootOpts{Type: servers.HardReboot})
	if err := res.ExtractErr(); err != nil {
		return "", fmt.Errorf("hard reboot server %s: %w", id, err)
	}
	return requestIDOf(res.Header), nil
}

// requestIDOf is the id Nova's API gave a request (x-openstack-request-id, older x-compute-request-id): the
// request id of the instance action it filed.
func requestIDOf(h http.Header) string {
	if id := h.Get("X-Openstack-Request-Id"); id != "" {
		return id
	}
	return h.Get("X-Compute-Request-Id")
}

// VolumeAttachment is one volume as Nova lists it on a server.
type VolumeAttachment struct {
	VolumeID     string `json:"volumeId"`
	Device       string `json:"device"`
	AttachmentID string `json:"attachment_id"` // Cinder's attachment id, microversion 2.89+
	BDMUUID      string `json:"bdm_uuid"`      // 2.89+
}

// ListVolumeAttachments lists a server's volumes from its live BDMs.
func (c *Client) ListVolumeAttachments(ctx context.Context, serverID string) ([]VolumeAttachment, error) {
	return call(ctx, "list volume attachments of "+serverID, func(ctx context.Context) ([]VolumeAttachment, error) {
		pages, err := volumeattach.List(c.compute, serverID).AllPages(ctx)
		if err != nil {
			return nil, err
		}
		var body struct {
			VolumeAttachments []VolumeAttachment `json:"volumeAttachments"`
		}
		if err := pages.(volumeattach.VolumeAttachmentPage).ExtractInto(&body); err != nil {
			return nil, err
		}
		return body.VolumeAttachments, nil
	})
}

// AttachVolume asks Nova to attach the volume at device and returns the request id of its attach_volume
// action. Nova answers 200 with the attachment before microversion 2.101 and 202 with no body from it; both
// mean "accepted", and the caller waits on real state.
func (c *Client) AttachVolume(ctx context.Context, serverID, volumeID, device string) (string, error) {
	body := map[string]any{"volumeAttachment": map[string]any{"volumeId": volumeID, "device": device}}
	url := c.compute.ServiceURL("servers", serverID, "os-volume_attachments")
	resp, err := c.compute.Post(ctx, url, body, nil, &gophercloud.RequestOpts{OkCodes: []int{http.StatusOK, http.StatusAccepted}})
	if err != nil {
		return "", fmt.Errorf("attach volume %s to %s at %s: %w", volumeID, serverID, device, err)
	}
	return requestIDOf(resp.Header), nil
}

// Service is a nova-compute or cinder-volume service as its API lists it.
type Service struct {
	Binary string
	Host   string
	State  string // up, down
	Status string // enabled, disabled
}

// ComputeServices lists nova-compute services.
func (c *Client) ComputeServices(ctx context.Context) ([]Service, error) {
	return call(ctx, "list compute services", func(ctx context.Context) ([]Service, error) {
		pages, err := services.List(c.compute, services.ListOpts{Binary: "nova-compute"}).AllPages(ctx)
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
