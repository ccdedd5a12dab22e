package adapter_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/relaykit/relaykit/client"
	"github.com/relaykit/relaykit/client/adapter"
	"github.com/relaykit/relaykit/contract"
)

// A gateway that echoes every message. Everything the platform's
// descriptor demands (splitting, gating, metadata, reactions, typing,
// interrupts, prompt handling) comes with the Gateway.
func Example() {
	ctx := context.Background()
	gw := adapter.New(func(ctx context.Context, t *adapter.Turn) error {
		_, err := t.Reply(ctx, "you said: "+t.Event.Text)
		return err
	}, adapter.Options{})
	defer gw.Close(ctx)

	c, _, err := client.Boot(ctx, client.Options{Getenv: os.Getenv, Handler: gw})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(ctx)
}

// A prompt with buttons where the platform has them, numbered text where
// it does not.
func ExampleTurn_Prompt() {
	_ = func(ctx context.Context, t *adapter.Turn) error {
		a, err := t.Prompt(ctx, adapter.PromptRequest{
			Text: "Deploy to production?",
			Kind: "approval",
			Options: []contract.PromptOption{
				{ID: "yes", Label: "Deploy", Style: "danger"},
				{ID: "no", Label: "Cancel"},
			},
		})
		if err != nil {
			return err // ErrPromptExpired after an hour by default
		}
		_, err = t.Reply(ctx, "You chose "+a.Label)
		return err
	}
}

func ExampleSplit() {
	reply := "Two lines:\n```go\nfmt.Println(\"hello\")\nfmt.Println(\"world\")\n```"
	for _, c := range adapter.Split(reply, 48, contract.LenUnitUTF16) {
		fmt.Printf("%q\n", c)
	}
	// Output:
	// "Two lines:\n```go\nfmt.Println(\"hello\")\n\n``` (1/2)"
	// "```go\nfmt.Println(\"world\")\n``` (2/2)"
}
