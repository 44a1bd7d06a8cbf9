package osapi_test

import (
	"strings"
	"testing"

	"github.com/osdr/osdr/testenv/cloud"
	"github.com/osdr/osdr/testenv/cloud/cloudtest"
)

// Every service answers a request without a valid token as keystonemiddleware does; version documents need none.
func TestServicesRequireAToken(t *testing.T) {
	f := cloudtest.New(t, cloud.Config{})
	e := f.Cloud.Endpoints()
	unauthorized := `{"error": {"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}}`
	identityRoot := strings.TrimSuffix(e.Identity, "/v3")
	for _, url := range []string{
		e.Compute + "/servers/detail", e.Compute + "/no/such/path", e.Volume + "/volumes/detail", e.Image + "/v2/images",
	} {
		for _, token := range []string{"", "gAAAAAbogus"} {
			t.Run(url+" "+token, func(t *testing.T) {
				r := cloudtest.Request(t, "GET", url, "", "X-Auth-Token", token)
				cloudtest.WantBody(t, r, 401, unauthorized)
				if got := r.Header.Get("WWW-Authenticate"); got != `Keystone uri="`+identityRoot+`"` {
					t.Errorf("WWW-Authenticate %q", got)
				}
			})
		}
	}
	for _, url := range []string{strings.TrimSuffix(e.Compute, "/v2.1") + "/", e.Compute, e.Compute + "/",
		strings.TrimSuffix(e.Volume, "/v3/"+f.Cloud.Admin().ProjectID) + "/", identityRoot + "/", e.Identity, e.Image + "/"} {
		if r := cloudtest.Request(t, "GET", url, ""); r.Status != 200 && r.Status != 300 {
			t.Errorf("GET %s without a token: %d %s", url, r.Status, r.Body)
		}
	}
}

// Unknown paths, and known ones with a method the service lacks, get the routers' bare 404.
func TestUnknownRoutes(t *testing.T) {
	f := cloudtest.New(t, cloud.Config{})
	e := f.Cloud.Endpoints()
	token := f.Token(t)
	notFound := `{"code": "404 Not Found", "title": "Not Found", "message": "The resource could not be found.<br /><br />\n\n\n"}`
	for _, tc := range []struct{ method, url string }{
		{"GET", e.Compute + "/os-hypervisors/statistics"},
		{"DELETE", e.Compute + "/servers/x/action"},
		{"PATCH", e.Compute + "/servers/x"},
		{"GET", e.Volume + "/snapshots/detail"},
		{"PUT", e.Volume + "/volumes/x/action"},
		{"GET", strings.TrimSuffix(e.Compute, "/v2.1") + "/v3"},
	} {
		t.Run(tc.method+" "+tc.url, func(t *testing.T) {
			cloudtest.WantBody(t, cloudtest.Request(t, tc.method, tc.url, "", "X-Auth-Token", token), 404, notFound)
		})
	}
}
