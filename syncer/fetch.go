package syncer

import (
	"context"
	"fmt"
	"net/mail"
	"sync"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/mailbridge/mailbridge/crypto"
	"github.com/mailbridge/mailbridge/store"
	"github.com/mailbridge/mailbridge/upstream"
)

// fetchAttempts bounds the tries for one message, so that a message the
// upstream cannot serve never blocks a sync, while a merely flaky upstream
// (a fifth of calls failing) still almost never leaves a placeholder.
const fetchAttempts = 10

// fetch downloads and decrypts metas with bounded parallelism and returns
// them in the order given, so UIDs follow the upstream's order. Messages
// deleted in the meantime are left out; messages that cannot be fetched
// are stored as a short explanation rather than lost or retried forever.
func (s *Syncer) fetch(ctx context.Context, metas []upstream.MessageMeta) ([]store.Incoming, error) {
	out := make([]store.Incoming, len(metas))
	keep := make([]bool, len(metas))

	work := make(chan int)
	var wg sync.WaitGroup
	for range min(s.opts.Workers, len(metas)) {
		wg.Go(func() {
			for i := range work {
				in, ok := s.fetchOne(ctx, metas[i])
				out[i], keep[i] = in, ok
			}
		})
	}
feed:
	for i := range metas {
		select {
		case work <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	n := 0
	for i := range out {
		if keep[i] {
			out[n] = out[i]
			n++
		}
	}
	return out[:n], nil
}

func (s *Syncer) fetchOne(ctx context.Context, meta upstream.MessageMeta) (store.Incoming, bool) {
	msg, err := retry(ctx, s, fetchAttempts, func() (*upstream.Message, error) {
		return s.opts.Session.GetMessage(ctx, meta.ID)
	})
	switch {
	case err == nil:
	case upstream.KindOf(err) == upstream.NotFound:
		return store.Incoming{}, false
	case ctx.Err() != nil:
		return store.Incoming{}, false
	default:
		s.failed.Add(1)
		s.log.Warn("message could not be fetched; storing a placeholder", "id", meta.ID, "err", err)
		body := placeholder(meta, err)
		return store.Incoming{Meta: meta, Body: body, Analysis: s.opts.Store.Analyze(body)}, true
	}

	res := crypto.Decrypt(msg.Raw, s.opts.Keys, func(addr string) openpgp.EntityList {
		return s.keys.lookup(ctx, addr)
	})
	if res.Failed {
		s.failed.Add(1)
		s.log.Warn("message could not be decrypted; delivering it with an explanation", "id", meta.ID, "reason", res.Reason)
	}
	// The listing may be older than the message: keep the freshest meta.
	m := msg.MessageMeta
	if m.ID == "" {
		m = meta
	}
	return store.Incoming{Meta: m, Body: res.Message, Analysis: s.opts.Store.Analyze(res.Message)}, true
}

// placeholder is what a client sees for a message the upstream would not
// serve: a clearly marked note, so the mail is not silently missing.
func placeholder(meta upstream.MessageMeta, cause error) []byte {
	date := meta.Date
	if date.IsZero() {
		date = time.Now()
	}
	return fmt.Appendf(nil, "From: %s\r\n"+
		"Subject: Message could not be downloaded\r\n"+
		"Date: %s\r\n"+
		"Message-ID: <%s.placeholder@mailbridge.invalid>\r\n"+
		"X-Mailbridge-Decryption: failed\r\n"+
		"MIME-Version: 1.0\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\n"+
		"\r\n"+
		"mailbridge could not download this message from the server (id %s).\r\n"+
		"Reason: %s\r\n"+
		"Resetting the cache (`mailbridge serve --reset-cache`) downloads it again.\r\n",
		(&mail.Address{Name: "mailbridge", Address: "mailbridge@localhost"}).String(),
		date.Format(time.RFC1123Z), meta.ID, meta.ID, upstream.KindOf(cause))
}
