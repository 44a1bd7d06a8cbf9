package cloud

import (
	"errors"
	"fmt"
)

// Identity names a cloud, so that evidence taken on one cloud (a manifest, a run) is never acted on in
// another. It never holds credentials.
type Identity struct {
	AuthURL string `json:"auth_url,omitempty"`
	Region  string `json:"region,omitempty"`
	// CinderDB is the Cinder database as host:port/name.
	CinderDB string `json:"cinder_db,omitempty"`
}

// ErrOtherCloud means evidence was taken on another cloud than the one configured now.
var ErrOtherCloud = errors.New("taken on another cloud")

// Identity is what the settings say of this cloud.
func (c *Cloud) Identity() Identity {
	id := Identity{}
	if c.settings.Cloud.Configured() {
		id.AuthURL, id.Region = c.settings.Cloud.AuthURL(), c.settings.Cloud.Region()
	}
	if dsn, err := c.settings.Databases.Cinder(); err == nil {
		cfg := dsn.Config()
		id.CinderDB = cfg.Addr + "/" + cfg.DBName
	}
	return id
}

// Check refuses evidence recorded as taken on another cloud than now, comparing what both name.
func (recorded Identity) Check(now Identity) error {
	if recorded.AuthURL != "" && now.AuthURL != "" && recorded.AuthURL != now.AuthURL {
		return fmt.Errorf("%w: it was taken on %s, this is %s", ErrOtherCloud, recorded.AuthURL, now.AuthURL)
	}
	if recorded.Region != "" && now.Region != "" && recorded.Region != now.Region {
		return fmt.Errorf("%w: it was taken in region %s, this is %s", ErrOtherCloud, recorded.Region, now.Region)
	}
	if recorded.CinderDB != "" && now.CinderDB != "" && recorded.CinderDB != now.CinderDB {
		return fmt.Errorf("%w: its Cinder database is %s, this is %s", ErrOtherCloud, recorded.CinderDB, now.CinderDB)
	}
	return nil
}

// String names the cloud for messages.
func (id Identity) String() string {
	s := id.AuthURL
	if s == "" {
		s = "an unnamed cloud"
	}
	if id.Region != "" {
		s += " (" + id.Region + ")"
	}
	if id.CinderDB != "" {
		s += ", Cinder database " + id.CinderDB
	}
	return s
}
