package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"

	"github.com/spf13/cobra"
)

// profiles writes a CPU and a heap profile of one command, for an operator who wants to know where a long
// recovery spends its time (go tool pprof FILE).
type profiles struct {
	cpuPath, heapPath string
	cpu               *os.File
}

func (p *profiles) addFlags(root *cobra.Command) {
	fs := root.PersistentFlags()
	fs.StringVar(&p.cpuPath, "cpu-profile", "", "write a CPU profile of the command to this file (read it with go tool pprof)")
	fs.StringVar(&p.heapPath, "heap-profile", "", "write a heap profile at the end of the command to this file (go tool pprof)")
}

// start begins the CPU profile, before the command runs.
func (p *profiles) start() error {
	if p.cpuPath == "" {
		return nil
	}
	f, err := os.OpenFile(p.cpuPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("--cpu-profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return fmt.Errorf("--cpu-profile: %w", err)
	}
	p.cpu = f
	return nil
}

// stop ends the CPU profile and writes the heap profile, whether the command succeeded or not.
func (p *profiles) stop() error {
	var errs []error
	if p.cpu != nil {
		pprof.StopCPUProfile()
		errs = append(errs, p.cpu.Close())
		p.cpu = nil
	}
	if p.heapPath != "" {
		f, err := os.OpenFile(p.heapPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			return errors.Join(append(errs, fmt.Errorf("--heap-profile: %w", err))...)
		}
		runtime.GC() // the profile shows what is live at the end, not garbage not yet collected
		errs = append(errs, pprof.WriteHeapProfile(f), f.Close())
	}
	return errors.Join(errs...)
}
