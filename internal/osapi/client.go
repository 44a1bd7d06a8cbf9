package osapi

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/utils"
	"golang.org/x/time/rate"
)

// The newest microversions this osdr knows the shapes of; a newer cloud is spoken to at these.
const (
	MaxNovaMicroversion   = "2.103"
	MaxCinderMicroversion = "3.71"
)

// Options tune the clients.
type Options struct {
	// RatePerSecond caps requests to the whole control plane (0: unlimited). A recovering cloud's API is
	// fragile; hundreds of instances must not stampede it.
	RatePerSecond float64
	Burst         int
}

// Client holds the Compute and Block Storage clients.
type Client struct {
	compute *gophercloud.ServiceClient
	volume  *gophercloud.ServiceClient
}

// New builds the clients from an authenticated provider and negotiates microversions with each service.
func New(ctx context.Context, provider *gophercloud.ProviderClient, eo gophercloud.EndpointOpts, opts Options) (*Client, error) {
	if opts.RatePerSecond > 0 {
		burst := opts.Burst
		if burst < 1 {
			burst = 1
		}
		limiter := rate.NewLimiter(rate.Limit(opts.RatePerSecond), burst)
		switch t := provider.HTTPClient.Transport.(type) {
		case *limitedTransport:
			// The provider is shared (one login per process): one limiter, the latest rate.
			t.limiter = limiter
		case nil:
			provider.HTTPClient.Transport = &limitedTransport{base: http.DefaultTransport, limiter: limiter}
		default:
			provider.HTTPClient.Transport = &limitedTransport{base: t, limiter: limiter}
		}
	}
	compute, err := openstack.NewComputeV2(provider, eo)
	if err != nil {
		return nil, fmt.Errorf("find the compute endpoint: %w", err)
	}
	volume, err := openstack.NewBlockStorageV3(provider, eo)
	if err != nil {
		return nil, fmt.Errorf("find the block-storage endpoint: %w", err)
	}
	c := &Client{compute: compute, volume: volume}
	if compute.Microversion, err = negotiate(ctx, compute, MaxNovaMicroversion); err != nil {
		return nil, fmt.Errorf("negotiate the Nova microversion: %w", err)
	}
	if volume.Microversion, err = negotiate(ctx, volume, MaxCinderMicroversion); err != nil {
		return nil, fmt.Errorf("negotiate the Cinder microversion: %w", err)
	}
	return c, nil
}

// NovaMicroversion and CinderMicroversion are the versions every request is sent at.
func (c *Client) NovaMicroversion() string   { return c.compute.Microversion }
func (c *Client) CinderMicroversion() string { return c.volume.Microversion }

// negotiate picks the highest microversion both sides know. The version document is read at the versioned
// root (/v2.1/, /v3/): Cinder's catalog URL carries the project id, under which no version document is served.
func negotiate(ctx context.Context, sc *gophercloud.ServiceClient, ours string) (string, error) {
	root, err := utils.BaseVersionedEndpoint(sc.Endpoint)
	if err != nil {
		return "", err
	}
	probe := *sc
	probe.Endpoint = strings.TrimSuffix(root, "/") + "/"
	supported, err := utils.GetSupportedMicroversions(ctx, &probe)
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
}

type limitedTransport struct {
	base    http.RoundTripper
	limiter *rate.Limiter
}

func (t *limitedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.limiter.Wait(req.Context()); err != nil {
		return nil, fmt.Errorf("API rate limit: %w", err)
	}
	return t.base.RoundTrip(req)
}
