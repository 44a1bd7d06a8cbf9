package osapi

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gophercloud/gophercloud/v2"
)

// The listings a recovery repeats every tick (servers/detail, volumes/detail, with changes-since) are read
// with one decode per page into the fields the engine keeps. gophercloud's pagers decode each page into a
// map, and its Extract functions encode that map again and decode it into their full structs, twice for the
// servers to read host_status: at a thousand instances that was most of osdr's CPU while it waited.

// link is one entry of a collection's links.
type link struct {
	Rel  string `json:"rel"`
	Href string `json:"href"`
}

// nextOf is the href of a page's "next" link, empty on the last page.
func nextOf(links []link) string {
	for _, l := range links {
		if l.Rel == "next" {
			return l.Href
		}
	}
	return ""
}

// page is one page of a collection: its items and the link to the next page.
type page[T any] interface {
	items() []T
	next() string
}

// listPages reads a collection from first, following each full page's next link (Nova and Cinder add one
// whenever a page holds as many items as the limit allows), decoding every page into P and converting each
// item with keep.
func listPages[W any, P page[W], T any](ctx context.Context, client *gophercloud.ServiceClient, first string, keep func(W) T) ([]T, error) {
	var out []T
	seen := map[string]bool{}
	for href := first; href != ""; {
		if seen[href] {
			return nil, errors.New("the listing links back to a page it already gave: it does not page")
		}
		seen[href] = true
		var p P
		if _, err := client.Get(ctx, href, &p, &gophercloud.RequestOpts{OkCodes: []int{200}}); err != nil {
			return nil, err
		}
		for _, item := range p.items() {
			out = append(out, keep(item))
		}
		href = p.next()
	}
	return out, nil
}

// serverWire is the part of a servers/detail entry the engine reads.
type serverWire struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	Status       string    `json:"status"`
	Updated      time.Time `json:"updated"`
	VMState      string    `json:"OS-EXT-STS:vm_state"`
	TaskState    string    `json:"OS-EXT-STS:task_state"`
	PowerState   int       `json:"OS-EXT-STS:power_state"`
	Host         string    `json:"OS-EXT-SRV-ATTR:host"`
	InstanceName string    `json:"OS-EXT-SRV-ATTR:instance_name"`
	HostStatus   string    `json:"host_status"`
	Volumes      []struct {
		ID string `json:"id"`
	} `json:"os-extended-volumes:volumes_attached"`
	Addresses map[string][]struct {
		Addr string `json:"addr"`
	} `json:"addresses"`
	Fault struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"fault"`
	Tags *[]string `json:"tags"`
}

func (s serverWire) server() Server {
	out := Server{
		ID: s.ID, Name: s.Name, Status: s.Status, VMState: s.VMState, TaskState: s.TaskState, PowerState: s.PowerState,
		Host: s.Host, InstanceName: s.InstanceName, HostStatus: s.HostStatus, Addresses: map[string][]string{},
		Updated: s.Updated, Deleted: s.Status == "DELETED" || s.Status == "SOFT_DELETED",
	}
	for _, v := range s.Volumes {
		out.Volumes = append(out.Volumes, v.ID)
	}
	for network, addrs := range s.Addresses {
		for _, a := range addrs {
			out.Addresses[network] = append(out.Addresses[network], a.Addr)
		}
	}
	if s.Tags != nil {
		out.Tags = *s.Tags
	}
	if s.Fault.Message != "" {
		out.Fault = fmt.Sprintf("%d %s", s.Fault.Code, s.Fault.Message)
	}
	return out
}

type serverPage struct {
	Servers []serverWire `json:"servers"`
	Links   []link       `json:"servers_links"`
}

func (p serverPage) items() []serverWire { return p.Servers }
func (p serverPage) next() string        { return nextOf(p.Links) }

// volumeWire is the part of a volumes/detail entry the engine reads.
type volumeWire struct {
	ID          string                          `json:"id"`
	Name        string                          `json:"name"`
	Status      string                          `json:"status"`
	Bootable    string                          `json:"bootable"`
	Multiattach bool                            `json:"multiattach"`
	Updated     gophercloud.JSONRFC3339MilliNoZ `json:"updated_at"`
	Attachments []struct {
		ServerID     string `json:"server_id"`
		AttachmentID string `json:"attachment_id"`
		Device       string `json:"device"`
		HostName     string `json:"host_name"`
	} `json:"attachments"`
}

func (v volumeWire) volume() Volume {
	out := Volume{ID: v.ID, Name: v.Name, Status: v.Status, Bootable: v.Bootable == "true", Multiattach: v.Multiattach, Updated: time.Time(v.Updated)}
	for _, a := range v.Attachments {
		out.Attachments = append(out.Attachments, VolumeServerAttachment{ServerID: a.ServerID, AttachmentID: a.AttachmentID, Device: a.Device, HostName: a.HostName})
	}
	return out
}

type volumePage struct {
	Volumes []volumeWire `json:"volumes"`
	Links   []link       `json:"volumes_links"`
}

func (p volumePage) items() []volumeWire { return p.Volumes }
func (p volumePage) next() string        { return nextOf(p.Links) }
