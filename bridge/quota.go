package bridge

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/mailbridge/mailbridge/imapsrv"
	"github.com/mailbridge/mailbridge/upstream"
)

var _ imapsrv.QuotaAccount = (*account)(nil)

// quotaTTL is how long a quota answer is reused: clients ask on every
// folder refresh, and the number moves slowly.
const quotaTTL = 30 * time.Second

// quotaCache holds the account's last quota from the upstream.
type quotaCache struct {
	mu    sync.Mutex
	q     upstream.Quota
	known bool      // q holds an answer
	at    time.Time // of the last try, failed or not
}

// Quota serves IMAP's QUOTA commands from the upstream, through a short
// cache. When the upstream is out of reach it answers with the last
// value it had, if any.
func (a *account) Quota(ctx context.Context) (upstream.Quota, error) {
	c := &a.quota
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && time.Since(c.at) < quotaTTL && c.known {
		return c.q, nil
	}
	sess := a.Upstream()
	if sess == nil {
		if c.known {
			return c.q, nil
		}
		return upstream.Quota{}, errors.New("not connected to the mail service")
	}
	q, err := sess.Quota(ctx)
	c.at = time.Now()
	if err != nil {
		if c.known {
			a.log.Info("quota: using the last known value", "err", err)
			return c.q, nil
		}
		return upstream.Quota{}, err
	}
	c.q, c.known = q, true
	return q, nil
}
