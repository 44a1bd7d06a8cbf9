package osapi

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/utils"
)

// The newest microversions this osdr knows the shapes of; a newer cloud is spoken to at these.
const (
	MaxNovaMicroversion   = "2.103"
	MaxCinderMicroversion = "3.71"
)

// Options tune the clients. The zero Options are the defaults.
type Options struct {
	// RatePerSecond caps requests to the whole control plane (0: unlimited), every attempt of a retried read
	// included. A recovering cloud's API is fragile; hundreds of instances must not stampede it.
	RatePerSecond float64
	Burst         int
	// RequestTimeout bounds each HTTP exchange, Keystone's included (0: DefaultRequestTimeout), so that a
	// request the server holds without answering fails as transient instead of hanging until the context ends.
	RequestTimeout time.Duration
	// RetryWindow is how long a read keeps retrying transient failures, per request (0: DefaultRetryWindow;
	// NoRetries or any negative value: one attempt). A listing of many pages retries each page on its own.
	RetryWindow time.Duration
}

// Client holds the Compute and Block Storage clients.
type Client struct {
	compute   *gophercloud.ServiceClient
	volume    *gophercloud.ServiceClient
	transport *Transport
}

// Requests is what every client of this provider has sent so far, Keystone's logins included.
func (c *Client) Requests() Requests { return c.transport.Requests() }

// New builds the clients from an authenticated provider and negotiates microversions with each service. It
// sets opts on the provider's Transport (one per process: the latest Options apply to every client of the
// provider); a provider built without one gets one, but then Keystone's re-authentications bypass it.
func New(ctx context.Context, provider *gophercloud.ProviderClient, eo gophercloud.EndpointOpts, opts Options) (*Client, error) {
	p, err := newPolicy(opts)
	if err != nil {
		return nil, fmt.Errorf("osapi options: %w", err)
	}
	t, ok := provider.HTTPClient.Transport.(*Transport)
	if !ok {
		t = NewTransport(provider.HTTPClient.Transport, nil)
		provider.HTTPClient.Transport = t
	}
	t.policy.Store(p)
	compute, err := openstack.NewComputeV2(provider, eo)
	if err != nil {
		return nil, fmt.Errorf("find the compute endpoint: %w", err)
	}
	volume, err := openstack.NewBlockStorageV3(provider, eo)
	if err != nil {
		return nil, fmt.Errorf("find the block-storage endpoint: %w", err)
	}
	c := &Client{compute: compute, volume: volume, transport: t}
	if compute.Microversion, err = negotiate(ctx, "Nova", compute, MaxNovaMicroversion); err != nil {
		return nil, err
	}
	if volume.Microversion, err = negotiate(ctx, "Cinder", volume, MaxCinderMicroversion); err != nil {
		return nil, err
	}
	return c, nil
}

// NovaMicroversion and CinderMicroversion are the versions every request is sent at.
func (c *Client) NovaMicroversion() string   { return c.compute.Microversion }
func (c *Client) CinderMicroversion() string { return c.volume.Microversion }

// negotiate picks the highest microversion both sides know. The version document is read at the versioned
// root (/v2.1/, /v3/): Cinder's catalog URL carries the project id, under which no version document is served.
// gophercloud takes a version document that did not come for "microversions not supported", so the error says
// what became of the request.
func negotiate(ctx context.Context, service string, sc *gophercloud.ServiceClient, ours string) (string, error) {
	return call(ctx, "negotiate the "+service+" microversion", func(ctx context.Context) (string, error) {
		root, err := utils.BaseVersionedEndpoint(sc.Endpoint)
		if err != nil {
			return "", err
		}
		probe := *sc
		probe.Endpoint = strings.TrimSuffix(root, "/") + "/"
		supported, err := utils.GetSupportedMicroversions(ctx, &probe)
		if failure := attemptsOf(ctx).lastFailure(); err != nil && failure != "" {
			return "", fmt.Errorf("%w (reading %s: %s)", err, probe.Endpoint, failure)
		}
		if err != nil {
			return "", err
		}
		oursMajor, oursMinor, err := utils.ParseMicroversion(ours)
		if err != nil {
			return "", err
		}
		if supported.MaxMajor > oursMajor || (supported.MaxMajor == oursMajor && supported.MaxMinor >= oursMinor) {
			return ours, nil
		}
		return fmt.Sprintf("%d.%d", supported.MaxMajor, supported.MaxMinor), nil
	})
}
