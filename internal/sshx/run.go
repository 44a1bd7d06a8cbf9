package sshx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/ssh"
)

// Result is what a command left behind. A non-zero ExitCode is not an error: callers interpret their tools'
// exit codes. A command killed by a signal reports 128 + the signal number, as a shell does.
type Result struct {
	Stdout   string
	Stderr   string
	ExitCode int
}

// Run runs command on ep and waits for it to exit. The command line goes as-is to the remote user's shell
// (sshd runs it with `$SHELL -c`): quoting its arguments is the caller's job. Neither the command nor its
// output appears in errors, since either may carry secrets (CHAP passwords, tokens).
//
// Errors: *HostKeyError, *AuthError and *UnreachableError when no connection could be made;
// *ConnectionLostError when the session ended without an exit status (as `shutdown -r now` does);
// ErrOutputTruncated, with the Result, when output went over Config.MaxOutputBytes; the context's error,
// wrapped, when ctx or Config.CommandTimeout ended the command, in which case the remote command is sent
// SIGKILL and its session closed.
func (p *Pool) Run(ctx context.Context, ep Endpoint, command string) (Result, error) {
	t, err := p.resolve(ep, 0)
	if err != nil {
		return Result{}, err
	}
	if p.cfg.CommandTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.cfg.CommandTimeout)
		defer cancel()
	}
	session, err := onClient(ctx, p, t, (*ssh.Client).NewSession)
	if err != nil {
		return Result{}, err
	}
	defer session.Close()
	stdout := &cappedBuffer{limit: p.cfg.MaxOutputBytes}
	stderr := &cappedBuffer{limit: p.cfg.MaxOutputBytes}
	session.Stdout, session.Stderr = stdout, stderr
	// Start waits for the server to accept the command and, like Wait, cannot be cancelled: both run aside
	// so that a host that stops answering cannot hold the caller past its context.
	type outcome struct{ startErr, waitErr error }
	done := make(chan outcome, 1)
	go func() {
		if err := session.Start(command); err != nil {
			done <- outcome{startErr: err}
			return
		}
		done <- outcome{waitErr: session.Wait()}
	}()
	var ran outcome
	select {
	case ran = <-done:
	case <-ctx.Done():
		// Closing the session alone leaves the remote command running; sshd delivers a signal request.
		// Best effort: the session is closed either way, and the context's error is what the caller needs.
		_ = session.Signal(ssh.SIGKILL)
		return Result{}, fmt.Errorf("run a command on %s: %w", t, ctx.Err())
	}
	switch {
	case errors.Is(ran.startErr, io.EOF):
		return Result{}, &ConnectionLostError{Endpoint: t.name, Address: t.hostport, Err: ran.startErr}
	case ran.startErr != nil:
		// x/crypto's message for a refused exec quotes the command line.
		return Result{}, fmt.Errorf("run a command on %s: the server refused to execute it", t)
	}
	result := Result{Stdout: stdout.String(), Stderr: stderr.String()}
	var exitErr *ssh.ExitError
	switch {
	case ran.waitErr == nil:
	case errors.As(ran.waitErr, &exitErr):
		result.ExitCode = exitErr.ExitStatus()
	case errors.As(ran.waitErr, new(*ssh.ExitMissingError)):
		return result, &ConnectionLostError{Endpoint: t.name, Address: t.hostport, Err: ran.waitErr}
	default:
		return result, fmt.Errorf("run a command on %s: %w", t, ran.waitErr)
	}
	if stdout.truncated || stderr.truncated {
		return result, fmt.Errorf("run a command on %s: %w (%d bytes per stream)", t, ErrOutputTruncated, p.cfg.MaxOutputBytes)
	}
	return result, nil
}

// cappedBuffer keeps the first limit bytes written to it.
type cappedBuffer struct {
	buf       bytes.Buffer
	limit     int
	truncated bool
}

// Write accepts everything, so that a command producing too much output is not blocked on a full SSH window.
func (b *cappedBuffer) Write(p []byte) (int, error) {
	room := max(b.limit-b.buf.Len(), 0)
	if len(p) > room {
		b.truncated = true
		b.buf.Write(p[:room])
	} else {
		b.buf.Write(p)
	}
	return len(p), nil
}

func (b *cappedBuffer) String() string { return b.buf.String() }
