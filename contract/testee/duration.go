package testee

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// Duration is a time.Duration that reads JSON as a Go duration string
// ("1.5s", "30s") or a number of seconds, and writes the string form.
type Duration time.Duration

// UnmarshalJSON accepts "30s" or 30.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("invalid duration %q: %w", s, err)
		}
		*d = Duration(v)
		return nil
	}
	var n float64
	if err := json.Unmarshal(b, &n); err != nil {
		return errors.New(`a duration must be a string such as "30s" or a number of seconds`)
	}
	if math.Abs(n) > float64(math.MaxInt64)/float64(time.Second) {
		return fmt.Errorf("duration %v s is out of range", n)
	}
	*d = Duration(n * float64(time.Second))
	return nil
}

// MarshalJSON writes the Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }
