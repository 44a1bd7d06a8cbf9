// Package bounds checks the numbers and durations an operator gives (flags, drill files) against the range
// the tool accepts, so a value out of range is refused with its name and the range instead of being clamped
// or taken as it is.
package bounds

import (
	"cmp"
	"fmt"
	"time"
)

// Range is the inclusive range a value must lie in.
type Range[T cmp.Ordered] struct{ Min, Max T }

// Check refuses v outside the range, naming it as the operator wrote it (a flag or a field).
func (r Range[T]) Check(name string, v T) error {
	if v < r.Min || v > r.Max {
		return fmt.Errorf("%s %v is out of range: it must be between %v and %v", name, format(v), format(r.Min), format(r.Max))
	}
	return nil
}

// format writes durations as people write them (90s, 10m0s), everything else as it is.
func format[T cmp.Ordered](v T) any {
	if d, ok := any(v).(time.Duration); ok {
		return d.String()
	}
	return v
}
