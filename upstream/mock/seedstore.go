package mock

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/mailbridge/mailbridge/crypto"
	"github.com/mailbridge/mailbridge/upstream"
)

// Seed stores the messages of SeedMessages(n, seed, primary address),
// encrypted to the account's key in their formats and signed as they say,
// with their labels and flags, emitting MessageCreated for each. It
// creates the "Work" and "Work/Projects" labels if needed and publishes
// the keys of the known senders. Seeding again with the same seed adds
// only the messages not stored yet. Faults do not apply.
func (s *Server) Seed(username string, n int, seed int64) error {
	id, err := s.userID(username)
	if err != nil {
		return err
	}
	var me upstream.Address
	err = s.read(id, func(a *account) error {
		me = a.rec.Addresses[0]
		return nil
	})
	if err != nil {
		return fmt.Errorf("mock: seed: %w", err)
	}
	if err := s.publishSenders(); err != nil {
		return err
	}
	to, err := s.publicKey(id)
	if err != nil {
		return err
	}
	msgs := SeedMessages(n, seed, me)
	raws, err := encryptAll(msgs, to)
	if err != nil {
		return fmt.Errorf("mock: seed: %w", err)
	}
	err = s.write(func(w *wtx) error {
		a, err := w.account(id)
		if err != nil {
			return err
		}
		ids, err := a.ensureSeedLabels()
		if err != nil {
			return err
		}
		for i, m := range msgs {
			if _, ok, err := a.getMeta(m.ID); ok || err != nil {
				if err != nil {
					return err
				}
				continue
			}
			labels := make([]string, len(m.MailboxIDs))
			for j, l := range m.MailboxIDs {
				labels[j] = ids[l]
				if labels[j] == "" {
					labels[j] = l
				}
			}
			req := storeReq{id: m.ID, raw: raws[i], labels: labels, flags: m.Flags, date: m.Date}
			if _, err := s.store(a, req); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("mock: seed: %w", err)
	}
	s.log.Info("mock: seeded", "user", id, "messages", n)
	return nil
}

// seedLabels are the user labels of seeded messages, parents first.
var seedLabels = []upstream.Mailbox{
	{ID: LabelWork, Name: labelWorkName, Kind: upstream.KindUser},
	{ID: LabelWorkProjects, Name: labelProjectsName, Kind: upstream.KindUser},
}

// ensureSeedLabels makes sure the seed labels exist. A label of the same
// name under another ID is used instead; the result maps seed label IDs to
// the IDs in use.
func (a *account) ensureSeedLabels() (map[string]string, error) {
	all, err := a.labels()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, want := range seedLabels {
		out[want.ID] = want.ID
		if a.hasLabel(want.ID) {
			continue
		}
		i := slices.IndexFunc(all, func(m upstream.Mailbox) bool { return strings.EqualFold(m.Name, want.Name) })
		if i >= 0 {
			out[want.ID] = all[i].ID
			continue
		}
		if _, err := a.createLabel(want.ID, want.Name, ""); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// publishSenders puts the keys of the seeded senders meant to be known on
// the key server.
func (s *Server) publishSenders() error {
	for _, c := range contacts {
		if c.key == "" || !c.published {
			continue
		}
		pub, err := crypto.ArmorPublicKey(fixtureKey(c.key))
		if err != nil {
			return fmt.Errorf("mock: seed: %w", err)
		}
		if err := s.PublishKey(c.email, pub); err != nil {
			return fmt.Errorf("mock: seed: %w", err)
		}
	}
	return nil
}

// encryptAll encrypts the seeded messages on all cores.
func encryptAll(msgs []SeedMessage, to openpgp.EntityList) ([][]byte, error) {
	raws := make([][]byte, len(msgs))
	errs := make([]error, len(msgs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			signers := map[string]*openpgp.Entity{} // per worker: no sharing
			for i := range next {
				var signer *openpgp.Entity
				if m := &msgs[i]; m.Signer != "" {
					name := signerKey(m.Signer)
					if signers[name] == nil {
						signers[name] = fixtureKey(name)
					}
					signer = signers[name]
				}
				raws[i], errs[i] = encrypt(msgs[i].Format, msgs[i].Raw, to, signer)
			}
		})
	}
	for i := range msgs {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("encrypt %s: %w", msgs[i].ID, err)
		}
	}
	return raws, nil
}

// signerKey returns the fixture key name of a seeded signer address.
func signerKey(email string) string {
	for _, c := range contacts {
		if c.email == email {
			return c.key
		}
	}
	return ""
}
