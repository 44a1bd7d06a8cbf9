package drills

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/onsi/ginkgo/v2/types"
)

// VerifyRequest is one verification: which manifest, which specs, where the reports go.
type VerifyRequest struct {
	Manifest string
	RunID    string // the recovery's run, for its journal; empty before the recovery
	Labels   string
	Deadline time.Duration
	Name     string // names the report files: verify-<name>.xml / .json
	Dir      string
}

// VerifyResult is the outcome with every spec.
type VerifyResult struct {
	Passed bool
	Specs  []SpecResult
	Output string
}

// Verifier runs the verification suites.
type Verifier interface {
	Verify(ctx context.Context, req VerifyRequest) (VerifyResult, error)
}

// ProcessVerifier runs `osdr verify` as a child process of the same binary: Ginkgo runs one suite per
// process, and a drill verifies twice (the steady state before the fault, the cloud after the recovery).
type ProcessVerifier struct {
	Binary string   // the osdr executable
	Args   []string // settings-contract flags passed through (e.g. --os-cloud, --runs-dir)
}

func (v ProcessVerifier) Verify(ctx context.Context, req VerifyRequest) (VerifyResult, error) {
	junit := filepath.Join(req.Dir, "verify-"+req.Name+".xml")
	jsonReport := filepath.Join(req.Dir, "verify-"+req.Name+".json")
	args := append([]string{"verify", "--manifest", req.Manifest, "--junit", junit, "--json-report", jsonReport}, v.Args...)
	if req.RunID != "" {
		args = append(args, "--run", req.RunID)
	}
	if req.Labels != "" {
		args = append(args, "--label-filter", req.Labels)
	}
	if req.Deadline > 0 {
		args = append(args, "--deadline", req.Deadline.String())
	}
	cmd := exec.CommandContext(ctx, v.Binary, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	runErr := cmd.Run()
	res := VerifyResult{Output: out.String()}
	specs, err := readGinkgoJSON(jsonReport)
	if err != nil {
		return res, fmt.Errorf("verification did not report (%v): %s", runErr, lastLines(out.String(), 20))
	}
	res.Specs = specs
	var exitErr *exec.ExitError
	switch {
	case runErr == nil:
		res.Passed = true
	case ctx.Err() != nil:
		return res, ctx.Err()
	case !errors.As(runErr, &exitErr):
		return res, fmt.Errorf("run osdr verify: %w", runErr)
	}
	return res, nil
}

// readGinkgoJSON reads Ginkgo's JSON report into spec results.
func readGinkgoJSON(path string) ([]SpecResult, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var reports []types.Report
	if err := json.Unmarshal(raw, &reports); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	var specs []SpecResult
	for _, r := range reports {
		for _, s := range r.SpecReports {
			if s.LeafNodeType != types.NodeTypeIt {
				continue
			}
			res := SpecResult{
				Name:    strings.TrimSpace(strings.Join(append(s.ContainerHierarchyTexts, s.LeafNodeText), " ")),
				Labels:  strings.Join(s.Labels(), ","),
				Seconds: s.RunTime.Seconds(),
			}
			switch {
			case s.State.Is(types.SpecStatePassed):
				res.State = "passed"
			case s.State.Is(types.SpecStateSkipped | types.SpecStatePending):
				res.State, res.Message = "skipped", s.Failure.Message
			default:
				res.State, res.Message = "failed", s.Failure.Message
				for _, e := range s.ReportEntries {
					if e.Name == "diagnostics" {
						res.Message += "\n" + e.StringRepresentation()
					}
				}
			}
			specs = append(specs, res)
		}
	}
	return specs, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
