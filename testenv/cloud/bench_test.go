package cloud_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/osdr/osdr/testenv"
	"github.com/osdr/osdr/testenv/cloud"
)

// benchCloud starts a cloud with instant operations on two fresh databases and returns it with an admin token.
func benchCloud(b *testing.B) (*cloud.Cloud, string) {
	b.Helper()
	profile, err := cloud.LookupProfile("")
	if err != nil {
		b.Fatal(err)
	}
	_, cinderDSN := testenv.MySQLWithSchema(b, profile.CinderSchema)
	_, novaDSN := testenv.MySQLWithSchema(b, testenv.SchemaNova)
	ctx := context.Background()
	c, err := cloud.New(ctx, cloud.Config{CinderDSN: cinderDSN, NovaDSN: novaDSN, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			b.Errorf("close the cloud: %v", err)
		}
	})
	if err := c.Start(ctx); err != nil {
		b.Fatal(err)
	}
	admin := c.Admin()
	body := fmt.Sprintf(`{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": %q,
		"domain": {"name": "Default"}, "password": %q}}}, "scope": {"project": {"name": %q,
		"domain": {"name": "Default"}}}}}`, admin.UserName, admin.Password, admin.ProjectName)
	resp, err := http.Post(c.Endpoints().Identity+"/auth/tokens", "application/json", strings.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b.Fatalf("authenticate: %s", resp.Status)
	}
	return c, resp.Header.Get("X-Subject-Token")
}

// benchTopology is hosts compute hosts with perHost instances each, every instance booted from a volume with
// one data volume; prefix keeps host and instance names apart between provisionings into one cloud.
func benchTopology(prefix string, hosts, perHost int) cloud.Topology {
	var t cloud.Topology
	for h := range hosts {
		host := fmt.Sprintf("%scompute-%d", prefix, h)
		t.Hosts = append(t.Hosts, cloud.Host{Name: host, IP: "127.0.0.1"})
		for i := range perHost {
			name := fmt.Sprintf("%svm-%d-%d", prefix, h, i)
			t.Instances = append(t.Instances, cloud.Instance{Name: name, Host: host,
				Addresses: []cloud.Address{{Network: "private", Addr: fmt.Sprintf("10.0.%d.%d", h, 10+i)}},
				Volumes:   []cloud.Volume{{Name: name + "-root", SizeGB: 10, Boot: true}, {Name: name + "-data"}}})
		}
	}
	return t
}

// BenchmarkSimulatedCloud measures the simulation's own throughput, to compare across changes on one machine:
// provisioning 32 instances with 64 volumes, and the burst of reads a recovery starts with against a cloud of
// that size (the server and volume listings, then every server's volume attachments).
func BenchmarkSimulatedCloud(b *testing.B) {
	b.Run("provision", func(b *testing.B) {
		c, _ := benchCloud(b)
		n := 0
		for b.Loop() {
			n++
			if _, err := c.Provision(context.Background(), benchTopology(fmt.Sprintf("p%d-", n), 4, 8)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("reads", func(b *testing.B) {
		c, token := benchCloud(b)
		topo, err := c.Provision(context.Background(), benchTopology("", 4, 8))
		if err != nil {
			b.Fatal(err)
		}
		get := func(url string) {
			req, err := http.NewRequest(http.MethodGet, url, nil)
			if err != nil {
				b.Fatal(err)
			}
			req.Header.Set("X-Auth-Token", token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			defer resp.Body.Close()
			if _, err := io.Copy(io.Discard, resp.Body); err != nil || resp.StatusCode != http.StatusOK {
				b.Fatalf("GET %s: %s %v", url, resp.Status, err)
			}
		}
		e := c.Endpoints()
		for b.Loop() {
			get(e.Compute + "/servers/detail?all_tenants=1")
			get(e.Volume + "/volumes/detail?all_tenants=1")
			for _, inst := range topo.Instances {
				get(e.Compute + "/servers/" + inst.ID + "/os-volume_attachments")
			}
		}
	})
}

// BenchmarkProvisioning10000Over1000 provisions 1,000 and then 10,000 instances, each with a boot and a data
// volume, over 100 compute hosts, each into a fresh cloud, in the same run, and reports the ratio of their
// times (sim_provision_10000_over_1000: linear growth is 10, the bar 12) and each one's seconds. Only with
// BENCH_LARGE=1 (make bench BENCH_LARGE=1).
func BenchmarkProvisioning10000Over1000(b *testing.B) {
	if os.Getenv("BENCH_LARGE") == "" {
		b.Skip("provisioning 10,000 instances runs with BENCH_LARGE=1")
	}
	provision := func(instances int) float64 {
		c, _ := benchCloud(b)
		topo := benchTopology("", 100, instances/100)
		start := time.Now()
		if _, err := c.Provision(b.Context(), topo); err != nil {
			b.Fatalf("provision %d instances: %v", instances, err)
		}
		return time.Since(start).Seconds()
	}
	for b.Loop() {
		small, large := provision(1000), provision(10000)
		b.ReportMetric(large/small, "sim_provision_10000_over_1000")
		b.ReportMetric(small, "sim_provision_1000_s")
		b.ReportMetric(large, "sim_provision_10000_s")
	}
}
