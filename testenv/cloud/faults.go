package cloud

import "github.com/osdr/osdr/testenv/cloud/model"

// The fault injection SetFaults configures (package model).
type (
	FaultConfig = model.FaultConfig
	FaultRule   = model.FaultRule
	FaultKind   = model.FaultKind
	FaultPhase  = model.FaultPhase
)

const (
	FaultServerError = model.FaultServerError
	FaultUnavailable = model.FaultUnavailable
	FaultTimeout     = model.FaultTimeout
	FaultDrop        = model.FaultDrop
	FaultBefore      = model.FaultBefore
	FaultAfter       = model.FaultAfter
)

// SetFaults replaces the fault rules; the empty config switches faults off. Requests already past the draw
// are not affected.
func (c *Cloud) SetFaults(fc FaultConfig) error {
	if err := fc.Validate(); err != nil {
		return err
	}
	c.faults.Set(fc)
	return nil
}
