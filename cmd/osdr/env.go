package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/spf13/cobra"

	"github.com/osdr/osdr/internal/osapi"
	"github.com/osdr/osdr/internal/settings"
	"github.com/osdr/osdr/internal/sshx"
	"github.com/osdr/osdr/recover"
)

// env is what a command resolved from the settings contract, opened lazily: a dry run that needs no SSH
// never dials, a --from-db snapshot never authenticates.
type env struct {
	settings *settings.Settings
	stderr   io.Writer
	dbs      *recover.Databases
	closeDBs []func() error
	pool     *sshx.Pool
}

// resolveEnv reads the settings contract and prints its warnings.
func resolveEnv(cmd *cobra.Command, flags *settings.Flags) (*env, error) {
	s, err := flags.Resolve(os.Getenv)
	if err != nil {
		return nil, err
	}
	for _, w := range s.Warnings {
		fmt.Fprintln(cmd.ErrOrStderr(), "osdr: warning:", w)
	}
	return &env{settings: s, stderr: cmd.ErrOrStderr()}, nil
}

func (e *env) close() {
	for _, c := range e.closeDBs {
		_ = c()
	}
	if e.pool != nil {
		_ = e.pool.Close()
	}
}

// databases opens Cinder's database and every Nova cell's, and checks they answer.
func (e *env) databases(ctx context.Context) (recover.Databases, error) {
	if e.dbs != nil {
		return *e.dbs, nil
	}
	cinderDSN, err := e.settings.Databases.Cinder()
	if err != nil {
		return recover.Databases{}, err
	}
	cells, err := e.settings.Databases.NovaCells()
	if err != nil {
		return recover.Databases{}, err
	}
	open := func(what string, d settings.DSN) (*sql.DB, error) {
		db, err := recover.OpenDB(d.Config().FormatDSN())
		if err != nil {
			return nil, fmt.Errorf("%s database %s: %w", what, d, err)
		}
		e.closeDBs = append(e.closeDBs, db.Close)
		if err := db.PingContext(ctx); err != nil {
			return nil, fmt.Errorf("%s database %s does not answer: %w", what, d, err)
		}
		return db, nil
	}
	dbs := recover.Databases{}
	if dbs.Cinder, err = open("Cinder", cinderDSN); err != nil {
		return recover.Databases{}, err
	}
	for i, c := range cells {
		db, err := open(fmt.Sprintf("Nova cell %d", i), c)
		if err != nil {
			return recover.Databases{}, err
		}
		dbs.Cells = append(dbs.Cells, db)
	}
	e.dbs = &dbs
	return dbs, nil
}

// optionalDatabases opens the databases when they are configured, and reports whether they are.
func (e *env) optionalDatabases(ctx context.Context) (recover.Databases, bool, error) {
	dbs, err := e.databases(ctx)
	if errors.Is(err, settings.ErrNotConfigured) {
		return recover.Databases{}, false, nil
	}
	return dbs, err == nil, err
}

// cloud authenticates and negotiates microversions with Nova and Cinder.
func (e *env) cloud(ctx context.Context, apiRate float64) (*osapi.Client, error) {
	provider, eo, err := e.settings.Cloud.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return osapi.New(ctx, provider, eo, osapi.Options{RatePerSecond: apiRate, Burst: max(1, int(apiRate))})
}

// ssh returns the one SSH pool of this command, verifying host keys unless the operator opted out.
func (e *env) ssh() (*sshx.Pool, error) {
	if e.pool != nil {
		return e.pool, nil
	}
	pool, err := sshx.New(e.settings.Machines.SSHConfig())
	if err != nil {
		return nil, fmt.Errorf("SSH: %w", err)
	}
	if !pool.VerifiesHostKeys() {
		fmt.Fprintln(e.stderr, "osdr: warning: SSH host keys are NOT verified (--insecure-ignore-host-keys)")
	}
	e.pool = pool
	return pool, nil
}

// machines runs commands on compute hosts and guests through the inventory's endpoints. The SSH pool is
// opened on first use: a recovery that reboots no guest needs no key or known_hosts.
type machines struct {
	env *env
}

func (e *env) machines() *machines { return &machines{env: e} }

func (m *machines) RunOnHost(ctx context.Context, host, command string) (sshx.Result, error) {
	ep, err := m.env.settings.Machines.Host(host)
	if err != nil {
		return sshx.Result{}, err
	}
	pool, err := m.env.ssh()
	if err != nil {
		return sshx.Result{}, err
	}
	return pool.Run(ctx, ep, command)
}

func (m *machines) Run(ctx context.Context, in recover.Instance, command string) (sshx.Result, error) {
	ep, err := m.env.settings.Machines.Guest(in.ID, addressList(in.Addresses))
	if err != nil {
		return sshx.Result{}, err
	}
	pool, err := m.env.ssh()
	if err != nil {
		return sshx.Result{}, err
	}
	return pool.Run(ctx, ep, command)
}

// guestLogin is how plans name a guest (user@address:port) and whether commands need sudo there.
func (m *machines) guestLogin(in recover.Instance) recover.GuestLogin {
	ep, err := m.env.settings.Machines.Guest(in.ID, addressList(in.Addresses))
	if err != nil {
		return recover.GuestLogin{Endpoint: in.ID}
	}
	return recover.GuestLogin{Endpoint: fmt.Sprintf("%s@%s:%d", ep.User, ep.Address, ep.Port), Root: ep.User == "root"}
}

// addressList flattens a server's addresses, networks in name order, so "first address" is stable.
func addressList(byNetwork map[string][]string) []string {
	networks := make([]string, 0, len(byNetwork))
	for n := range byNetwork {
		networks = append(networks, n)
	}
	sort.Strings(networks)
	var out []string
	for _, n := range networks {
		out = append(out, byNetwork[n]...)
	}
	return out
}
