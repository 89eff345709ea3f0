package mock

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"

	"github.com/mailbridge/mailbridge/upstream"
)

// maxBatch caps the events one Events call returns.
const maxBatch = 100

// hub wakes long polls. Each account has a channel that is closed (and
// replaced) when new events are committed, so waiters never miss a wake-up
// as long as they take the channel before reading the log.
type hub struct {
	mu      sync.Mutex
	waiters map[string]chan struct{}
	refresh map[string]bool // accounts whose next Events call must fail
}

func (h *hub) wait(userID string) <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.waiters == nil {
		h.waiters = map[string]chan struct{}{}
	}
	ch, ok := h.waiters[userID]
	if !ok {
		ch = make(chan struct{})
		h.waiters[userID] = ch
	}
	return ch
}

func (h *hub) notify(userID string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if ch, ok := h.waiters[userID]; ok {
		close(ch)
		delete(h.waiters, userID)
	}
}

func (h *hub) setRefresh(userID string) {
	h.mu.Lock()
	if h.refresh == nil {
		h.refresh = map[string]bool{}
	}
	h.refresh[userID] = true
	h.mu.Unlock()
	h.notify(userID)
}

// takeRefresh reports and clears a pending forced refresh.
func (h *hub) takeRefresh(userID string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.refresh[userID]
	delete(h.refresh, userID)
	return r
}

// ForceRefresh makes the next Events call of the account fail with
// RefreshRequired, as when the real service lost its event log. A long
// poll in progress returns at once.
func (s *Server) ForceRefresh(username string) {
	id, err := s.userID(username)
	if err != nil {
		s.log.Warn("mock: force refresh of unknown user")
		return
	}
	s.hub.setRefresh(id)
}

func (s *session) LatestEventID(ctx context.Context) (string, error) {
	return run(ctx, s, func() (string, error) {
		var latest uint64
		err := s.srv.read(s.userID, func(a *account) error {
			latest = a.rec.LastEvent
			return nil
		})
		return strconv.FormatUint(latest, 10), err
	})
}

func (s *session) Events(ctx context.Context, since string) (upstream.EventBatch, error) {
	return run(ctx, s, func() (upstream.EventBatch, error) {
		return s.srv.events(ctx, s.userID, since, s.done)
	})
}

// events is the long poll: it returns what is after since, or waits for the
// next commit, the context, the end of the session (stop) or Close.
func (s *Server) events(ctx context.Context, userID, since string, stop <-chan struct{}) (upstream.EventBatch, error) {
	cursor, err := strconv.ParseUint(since, 10, 64)
	if err != nil {
		return upstream.EventBatch{}, upstream.Errorf(upstream.RefreshRequired, "invalid cursor")
	}
	for {
		if s.hub.takeRefresh(userID) {
			return upstream.EventBatch{}, upstream.Errorf(upstream.RefreshRequired, "event log reset")
		}
		wake := s.hub.wait(userID)
		batch, err := s.readEvents(userID, cursor)
		if err != nil || len(batch.Events) > 0 {
			return batch, err
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return upstream.EventBatch{Cursor: since}, nil
		case <-stop:
			return upstream.EventBatch{}, upstream.Errorf(upstream.Permanent, "session closed")
		case <-s.done:
			return upstream.EventBatch{}, &upstream.Error{Kind: upstream.Temporary, Err: errClosed}
		}
	}
}

func (s *Server) readEvents(userID string, since uint64) (upstream.EventBatch, error) {
	batch := upstream.EventBatch{Cursor: strconv.FormatUint(since, 10)}
	err := s.read(userID, func(a *account) error {
		last := a.rec.LastEvent
		if since > last {
			return upstream.Errorf(upstream.RefreshRequired, "cursor from the future")
		}
		c := a.bucket(bktEvents).Cursor()
		first, _ := c.First()
		oldest := last + 1 // empty log: only the latest cursor is valid
		if first != nil {
			oldest = binary.BigEndian.Uint64(first)
		}
		if since+1 < oldest {
			return upstream.Errorf(upstream.RefreshRequired, "cursor older than the event log")
		}
		pos := since
		for k, v := c.Seek(seqKey(since + 1)); k != nil && len(batch.Events) < maxBatch; k, v = c.Next() {
			var ev upstream.Event
			if err := json.Unmarshal(v, &ev); err != nil {
				return fmt.Errorf("decode event: %w", err)
			}
			batch.Events = append(batch.Events, ev)
			pos = binary.BigEndian.Uint64(k)
		}
		batch.Cursor = strconv.FormatUint(pos, 10)
		batch.More = pos < last
		return nil
	})
	if err != nil {
		return upstream.EventBatch{}, err
	}
	return batch, nil
}
