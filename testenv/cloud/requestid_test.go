package cloud_test

import (
	"strings"
	"testing"

	"github.com/osdr/osdr/testenv/cloud"
	"github.com/osdr/osdr/testenv/cloud/cloudtest"
)

// Every answer carries the request id headers the real services send: x-openstack-request-id from each
// (oslo.middleware's RequestId, Glance's context middleware), and Nova's the same id as x-compute-request-id,
// on successes, refusals and unknown routes alike; only Nova's version list, whose paste pipeline has no
// compute_req_id, carries none.
func TestEveryAnswerCarriesItsRequestID(t *testing.T) {
	f := cloudtest.New(t, cloud.Config{})
	f.Provision(t, cloudtest.StandardTopology())
	token := f.Token(t)
	e := f.Cloud.Endpoints()
	root := func(u string) string { return u[:strings.Index(u[len("http://"):], "/")+len("http://")] }
	for _, tc := range []struct {
		name, url string
		auth      bool
		nova      bool
		none      bool
	}{
		{"keystone versions", root(e.Identity) + "/", false, false, false},
		{"keystone token check without a token", e.Identity + "/auth/tokens", false, false, false},
		{"keystone unknown route", e.Identity + "/nothing", false, false, false},
		{"nova versions", root(e.Compute) + "/", false, true, true},
		{"nova version v2.1", e.Compute, false, true, false},
		{"nova servers", e.Compute + "/servers/detail", true, true, false},
		{"nova without a token", e.Compute + "/servers", false, true, false},
		{"nova unknown server", e.Compute + "/servers/00000000-0000-4000-8000-000000000000", true, true, false},
		{"nova unknown route", e.Compute + "/nothing", true, true, false},
		{"cinder versions", root(e.Volume) + "/", false, false, false},
		{"cinder volumes", e.Volume + "/volumes/detail", true, false, false},
		{"cinder without a token", e.Volume + "/volumes", false, false, false},
		{"glance versions", e.Image + "/", false, false, false},
		{"glance images", e.Image + "/v2/images", true, false, false},
		{"glance without a token", e.Image + "/v2/images", false, false, false},
	} {
		var headers []string
		if tc.auth {
			headers = []string{"X-Auth-Token", token}
		}
		r := cloudtest.Request(t, "GET", tc.url, "", headers...)
		id := r.Header.Get("X-Openstack-Request-Id")
		if tc.none {
			if id != "" || r.Header.Get("X-Compute-Request-Id") != "" {
				t.Errorf("%s: request ids %v", tc.name, r.Header)
			}
			continue
		}
		if !strings.HasPrefix(id, "req-") || len(id) != len("req-")+36 {
			t.Errorf("%s (%d): x-openstack-request-id %q", tc.name, r.Status, id)
		}
		if compute := r.Header.Get("X-Compute-Request-Id"); tc.nova != (compute != "") || tc.nova && compute != id {
			t.Errorf("%s (%d): x-compute-request-id %q beside %q", tc.name, r.Status, compute, id)
		}
	}
}
