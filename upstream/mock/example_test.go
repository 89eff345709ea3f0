package mock_test

import (
	"context"
	"fmt"
	"log"

	"github.com/mailbridge/mailbridge/upstream"
	"github.com/mailbridge/mailbridge/upstream/mock"
)

// The demo account: fixed key, ten seeded messages, then what a bridge
// would do first.
func Example() {
	srv, err := mock.New(mock.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	err = srv.AddUser(mock.UserSpec{
		Username:  "demo",
		Password:  "demo password",
		Addresses: []upstream.Address{{Email: mock.DemoEmail, Name: "Demo User"}},
		Key:       mock.DemoKey(),
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := srv.Seed("demo", 10, 1); err != nil {
		log.Fatal(err)
	}

	ctx := context.Background()
	sess, err := srv.Login(ctx, "demo", "demo password")
	if err != nil {
		log.Fatal(err)
	}
	defer sess.Close()
	page, err := sess.ListMessages(ctx, "", 100)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(page), page[0].ID)
	// Output: 10 s0000000000000001-000000
}
