package recover

import (
	"context"
	"errors"
	"time"

	"github.com/osdr/osdr/internal/wait"
)

// attachSettle is how long an attach whose answer was lost may take to show in Nova's listing. From
// microversion 2.101 Nova answers 202 before nova-conductor reserves the device, so an attach Nova took can be
// invisible for the conductor's round trip; sending it again then would be a second attach request. Before
// 2.101 the reservation precedes the answer and the first look settles it.
const attachSettle = 5 * time.Second

// attachAccepted tells, after an attach request failed without a clear refusal, whether Nova took it: the
// volume listed on the server within attachSettle. A resend after a false "no" is still safe (Nova refuses a
// volume mapped already, Cinder one reserved already), but costs the cloud a refused request.
func (x *executor) attachAccepted(ctx context.Context, id, volume string) (bool, error) {
	err := wait.Until(ctx, "volume "+volume+" listed on "+id, attachSettle, x.options.Polling, func(ctx context.Context) (bool, string, error) {
		listed, err := x.novaListsNow(ctx, id)
		if err != nil {
			return false, "", wait.Retry(err)
		}
		return listed[volume], "", nil
	})
	var timeout *wait.TimeoutError
	if errors.As(err, &timeout) {
		return false, nil
	}
	return err == nil, err
}
