package sim

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/osdr/osdr/testenv/hosts"
)

// PowerCut puts hosts into the guide's "after the power loss" state: their iSCSI sessions gone, their
// domains shut off (or lost, with loseDomains: the hypervisor forgot them, as the real Zed cloud showed), the
// databases untouched until nova-compute comes back and its power-state sync runs.
func (s *Sim) PowerCut(ctx context.Context, names []string, loseDomains bool) error {
	if len(names) == 0 {
		for _, h := range s.Topology.Hosts {
			names = append(names, h.Name)
		}
	}
	known := map[string]bool{}
	for _, h := range s.Topology.Hosts {
		known[h.Name] = true
	}
	for _, h := range names {
		if !known[h] {
			return fmt.Errorf("power cut: unknown host %s", h)
		}
	}
	after := hosts.DomainsShutOff
	if loseDomains {
		after = hosts.DomainsLost
	}
	if err := s.cluster.PowerCut(ctx, after, names...); err != nil {
		return err
	}
	for _, h := range names {
		resume, err := s.cluster.ResumeGuestsOnBoot(h)
		if err != nil {
			return err
		}
		if err := s.Cloud.ComputeRestarted(ctx, h, resume); err != nil {
			return fmt.Errorf("power cut %s: nova-compute start: %w", h, err)
		}
	}
	return nil
}

// control serves `osdr-lab sim power-cut` and `osdr-lab sim audit` for a running `osdr-lab sim up`, on
// loopback, behind a token only the state directory's owner can read.
type control struct {
	srv   *http.Server
	url   string
	token string
}

func (s *Sim) startControl() error {
	tok := make([]byte, 16)
	if _, err := rand.Read(tok); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("control listener: %w", err)
	}
	c := &control{url: "http://" + ln.Addr().String(), token: hex.EncodeToString(tok)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /power-cut", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Hosts       []string `json:"hosts"`
			LoseDomains bool     `json:"lose_domains"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, "malformed request: "+err.Error(), http.StatusBadRequest)
			return
		}
		if err := s.PowerCut(r.Context(), req.Hosts, req.LoseDomains); err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /audit", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		enc := json.NewEncoder(w)
		for _, e := range s.Cloud.AuditLog() {
			_ = enc.Encode(e)
		}
	})
	c.srv = &http.Server{Handler: c.authorize(mux), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = c.srv.Serve(ln) }()
	s.control = c
	return nil
}

func (c *control) authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if subtle.ConstantTimeCompare([]byte(got), []byte(c.token)) != 1 {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Client talks to a running simulation through the control URL and token in its sim.json.
type Client struct {
	URL, Token string
	HTTP       *http.Client
}

// ReadClient loads the control endpoint of the simulation serving stateDir.
func ReadClient(stateDir string) (*Client, error) {
	d, err := ReadDescription(stateDir)
	if err != nil {
		return nil, err
	}
	if d.ControlURL == "" {
		return nil, errors.New("sim.json names no control endpoint")
	}
	return &Client{URL: d.ControlURL, Token: d.ControlToken, HTTP: &http.Client{Timeout: 5 * time.Minute}}, nil
}

func (c *Client) do(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var r *strings.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		r = strings.NewReader(string(raw))
	} else {
		r = strings.NewReader("")
	}
	req, err := http.NewRequestWithContext(ctx, method, c.URL+path, r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reach the simulation (is `osdr-lab sim up` running?): %w", err)
	}
	return resp, nil
}

// PowerCut asks the running simulation to cut power to hosts (all when empty).
func (c *Client) PowerCut(ctx context.Context, hosts []string, loseDomains bool) error {
	resp, err := c.do(ctx, http.MethodPost, "/power-cut", map[string]any{"hosts": hosts, "lose_domains": loseDomains})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		var b strings.Builder
		buf := make([]byte, 4096)
		n, _ := resp.Body.Read(buf)
		b.Write(buf[:n])
		return fmt.Errorf("power cut: %s: %s", resp.Status, strings.TrimSpace(b.String()))
	}
	return nil
}

// Audit returns the simulation's audit log as JSON lines.
func (c *Client) Audit(ctx context.Context) (*http.Response, error) {
	resp, err := c.do(ctx, http.MethodGet, "/audit", nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("audit: %s", resp.Status)
	}
	return resp, nil
}
