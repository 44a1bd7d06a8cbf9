package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tcmysql "github.com/testcontainers/testcontainers-go/modules/mysql"
	"github.com/testcontainers/testcontainers-go/wait"
)

// Labels on every container testenv starts, so a later run can find the ones a killed run left behind.
const (
	labelRole = "org.osdr.testenv"
	labelHost = "org.osdr.testenv.host"
	labelPID  = "org.osdr.testenv.pid"
)

// containerStartTimeout bounds image pull plus first start; a cold pull of the official image is the slow case.
const containerStartTimeout = 5 * time.Minute

// errNoEngine means no container engine answers.
var errNoEngine = errors.New("container engine unavailable")

// imageHere says whether the container engine has the image already, without pulling it.
func imageHere(ctx context.Context, image string) bool {
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return false
	}
	defer cli.Close()
	_, err = cli.ImageInspect(ctx, image)
	return err == nil
}

func startContainer(ctx context.Context, image string) (*Server, error) {
	// testcontainers panics rather than erring on some broken engine setups; the caller must get an error it
	// can fall back from.
	var provider testcontainers.GenericProvider
	if err := func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("container engine: %v", r)
			}
		}()
		provider, err = testcontainers.ProviderDocker.GetProvider()
		if err != nil {
			return err
		}
		defer provider.Close()
		return provider.Health(ctx)
	}(); err != nil {
		return nil, fmt.Errorf("%w: %w", errNoEngine, err)
	}
	removeLeakedContainers(ctx)

	password, err := randomPassword()
	if err != nil {
		return nil, err
	}
	hostname, _ := os.Hostname()
	startCtx, cancel := context.WithTimeout(ctx, containerStartTimeout)
	defer cancel()
	ctr, err := tcmysql.Run(startCtx, image,
		tcmysql.WithUsername("root"),
		tcmysql.WithPassword(password),
		tcmysql.WithDatabase("osdr"),
		// MariaDB's default of 151 connections is a laptop's: a control plane runs thousands (each API and
		// conductor worker keeps a pool), and a simulated cloud of 1,000 instances attaching at once opens
		// hundreds. Both the official image and the local one pass these arguments to mariadbd.
		testcontainers.WithCmd("mariadbd", "--max-connections=4096"),
		testcontainers.WithLabels(map[string]string{
			labelRole: "mysql",
			labelHost: hostname,
			labelPID:  strconv.Itoa(os.Getpid()),
		}),
		// The module waits for MySQL Community Server's banner; MariaDB (official or Debian-built) prints
		// "ready for connections" twice, first for the init server without networking, so also wait for the
		// port and a real query.
		testcontainers.WithWaitStrategyAndDeadline(2*time.Minute,
			wait.ForLog("ready for connections"),
			wait.ForListeningPort("3306/tcp"),
			wait.ForSQL("3306/tcp", "mysql", func(host string, port network.Port) string {
				return baseConfig("root", password, net.JoinHostPort(host, port.Port())).FormatDSN()
			}).WithQuery("SELECT 1"),
		),
	)
	if err != nil {
		if ctr != nil {
			_ = testcontainers.TerminateContainer(ctr)
		}
		return nil, fmt.Errorf("start MySQL container from %s: %w", image, err)
	}
	endpoint, err := ctr.PortEndpoint(ctx, "3306/tcp", "")
	if err != nil {
		_ = testcontainers.TerminateContainer(ctr)
		return nil, fmt.Errorf("MySQL container endpoint: %w", err)
	}
	return &Server{
		kind:  KindContainer,
		admin: baseConfig("root", password, endpoint),
		stop: func(ctx context.Context) error {
			if err := ctr.Terminate(ctx); err != nil {
				return fmt.Errorf("terminate MySQL container: %w", err)
			}
			return nil
		},
	}, nil
}

// removeLeakedContainers removes containers that earlier testenv processes on this host started and did not
// stop (a killed `go test`, no Ryuk to reap them). A container whose owner process still runs is left alone.
func removeLeakedContainers(ctx context.Context) {
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return
	}
	defer cli.Close()
	hostname, _ := os.Hostname()
	list, err := cli.ContainerList(ctx, client.ContainerListOptions{
		All:     true,
		Filters: make(client.Filters).Add("label", labelRole+"=mysql", labelHost+"="+hostname),
	})
	if err != nil {
		return
	}
	for _, c := range list.Items {
		if processAlive(c.Labels[labelPID]) {
			continue
		}
		_, _ = cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	}
}

func processAlive(pid string) bool {
	n, err := strconv.Atoi(pid)
	if err != nil || n <= 0 {
		return false
	}
	err = syscall.Kill(n, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func randomPassword() (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random password: %w", err)
	}
	return hex.EncodeToString(b), nil
}
