package mock

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/mailbridge/mailbridge/upstream"
)

// Send stores the sender's copy, if any, in Sent (flagged Seen) and hands Raw out
// to every recipient: recorded in Outbound, passed to Options.DeliverHook,
// and stored in the Inbox of recipients that are accounts of this server.
// A retry with the same OpID returns the first copy and delivers nothing.
func (s *session) Send(ctx context.Context, req upstream.SendRequest) (upstream.MessageMeta, error) {
	return run(ctx, s, func() (upstream.MessageMeta, error) {
		var (
			meta upstream.MessageMeta
			out  []Delivery
		)
		err := s.srv.write(func(w *wtx) error {
			out = out[:0]
			a, err := w.account(s.userID)
			if err != nil {
				return err
			}
			if m, ok, err := a.replay(req.OpID); ok || err != nil {
				meta = m
				return err
			}
			if err := checkSend(a, req); err != nil {
				return err
			}
			deliveryID := "nosent-" + a.newMessageID()
			if len(req.SentCopy) > 0 {
				meta, err = s.srv.store(a, storeReq{
					raw: req.SentCopy, labels: []string{upstream.Sent}, flags: upstream.FlagSeen, opID: req.OpID,
				})
				if err != nil {
					return err
				}
				deliveryID = meta.ID
			} else if req.OpID != "" {
				// Remember the OpID so a retry delivers nothing twice.
				if err := a.bucket(bktOps).Put([]byte(req.OpID), []byte{}); err != nil {
					return err
				}
			}
			for i, rcpt := range req.Recipients {
				out = append(out, Delivery{
					ID: fmt.Sprintf("%s-%d", deliveryID, i+1), From: req.From, Recipient: rcpt, Raw: bytes.Clone(req.Raw),
				})
				if err := s.srv.deliverLocal(w, rcpt, req.Raw); err != nil {
					return err
				}
			}
			return nil
		})
		if err == nil {
			s.srv.recordDeliveries(out)
		}
		return meta, err
	})
}

func checkSend(a *account, req upstream.SendRequest) error {
	if !slices.ContainsFunc(a.rec.Addresses, func(ad upstream.Address) bool {
		return strings.EqualFold(ad.Email, req.From)
	}) {
		return upstream.Errorf(upstream.Permanent, "sender address is not an address of this account")
	}
	if len(req.Recipients) == 0 {
		return upstream.Errorf(upstream.Permanent, "no recipients")
	}
	if len(req.Raw) == 0 {
		return upstream.Errorf(upstream.Permanent, "empty message")
	}
	var refused []string
	for _, r := range req.Recipients {
		if strings.HasSuffix(strings.ToLower(r), RefusedDomain) {
			refused = append(refused, r)
		}
	}
	if len(refused) > 0 {
		return &upstream.RecipientError{Rejected: refused, Msg: "no such recipient"}
	}
	return nil
}

// RefusedDomain is a domain the mock refuses to deliver to, like a
// provider answering "no such user", so tests can exercise per-recipient
// rejections.
const RefusedDomain = "@refused.test"

// deliverLocal stores raw in the Inbox of the account owning rcpt, if any.
// A full recipient mailbox loses the message, as a bounce would.
func (s *Server) deliverLocal(w *wtx, rcpt string, raw []byte) error {
	id := w.tx.Bucket(bktAddrs).Get(emailKey(rcpt))
	if id == nil {
		return nil
	}
	ra, err := w.account(string(id))
	if err != nil {
		return err
	}
	_, err = s.store(ra, storeReq{raw: raw, labels: []string{upstream.Inbox}})
	if upstream.KindOf(err) == upstream.Permanent {
		s.log.Warn("mock: local delivery failed", "user", ra.rec.ID, "err", err)
		return nil
	}
	return err
}
