package testenv

import (
	"context"
	"fmt"
	"io"
	"net"

	sqle "github.com/dolthub/go-mysql-server"
	"github.com/dolthub/go-mysql-server/memory"
	gmsserver "github.com/dolthub/go-mysql-server/server"
	gmssql "github.com/dolthub/go-mysql-server/sql"
	"github.com/sirupsen/logrus"
)

// startEmbedded serves an in-memory go-mysql-server on a loopback port, one transaction per database at a
// time (transactionSerializer). It is not MariaDB (no row locks, other error codes and edge cases), which is
// why only the simulation and the demo may use it.
func startEmbedded(ctx context.Context) (*Server, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for the embedded MySQL server: %w", err)
	}
	// Native indexes: without them the memory backend refuses foreign keys to primary keys, which Cinder's
	// schema has.
	provider := memory.NewDBProviderWithOpts(memory.NativeIndexProvider(true)).(*memory.DbProvider)
	// go-mysql-server logs every connection and failed query through logrus' standard logger, which nothing
	// else in osdr uses; the simulation's own log says what matters.
	logrus.SetOutput(io.Discard)
	engine := sqle.NewDefault(provider)
	serial := newTransactionSerializer()
	srv, err := gmsserver.NewServerWithHandler(gmsserver.Config{Protocol: "tcp", Listener: ln}, engine,
		gmssql.NewContext, serial.sessionBuilder(provider), nil, serial.wrap)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("create the embedded MySQL server: %w", err)
	}
	go func() { _ = srv.Start() }()
	s := &Server{
		kind:  KindEmbedded,
		admin: baseConfig("root", "", ln.Addr().String()),
		stop:  func(context.Context) error { return srv.Close() },
	}
	if err := s.ping(ctx); err != nil {
		_ = srv.Close()
		return nil, fmt.Errorf("reach the embedded MySQL server: %w", err)
	}
	return s, nil
}
