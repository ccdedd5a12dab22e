package main

import (
	"context"
	"errors"
)

var errTodo = errors.New("probe not written yet")

func todo(context.Context, *probeEnv) (string, error) { return "", errTodo }

var probes = map[string]probe{
	"bot-dm":                      {side: Connector, run: todo},
	"buffered-forward-type":       {side: Connector, run: todo},
	"drain-other-platform":        {side: Connector, run: todo},
	"drain-out-of-order-ack":      {side: Connector, run: todo},
	"enroll-other-tenant":         {side: Connector, run: todo},
	"frame-cap":                   {side: Connector, run: todo},
	"gate-destination":            {side: Connector, run: todo},
	"interrupt-group-key":         {side: Connector, run: todo},
	"interrupt-group-second-user": {side: Connector, run: todo},
	"interrupt-other-instance":    {side: Connector, run: todo},
	"live-unhelloed-platform":     {side: Connector, run: todo},
	"live-while-drain-unacked":    {side: Connector, run: todo},
	"policy-replaced":             {side: Connector, run: todo},
	"policy-scope-id":             {side: Connector, run: todo},
	"provision-other-tenant":      {side: Connector, run: todo},
	"rename-condition":            {side: Connector, run: todo},
	"reprovision-same-secret":     {side: Connector, run: todo},
	"second-going-idle":           {side: Connector, run: todo},
	"wake-bare":                   {side: Connector, run: todo},
	"wake-cooldown":               {side: Connector, run: todo},
	"ack-buffered-press-forward":  {side: Gateway, run: todo},
	"ack-replay-of-admitted":      {side: Gateway, run: todo},
	"dedupe-memory":               {side: Gateway, run: todo},
	"dedupe-per-chat":             {side: Gateway, run: todo},
	"download-bearer-path":        {side: Gateway, run: todo},
	"draft-needs-streaming":       {side: Gateway, run: todo},
	"hellos-without-descriptor":   {side: Gateway, run: todo},
	"identical-pending-actions":   {side: Gateway, run: todo},
	"interrupt-group-one-user":    {side: Gateway, run: todo},
	"interrupt-key-group":         {side: Gateway, run: todo},
	"media-decline":               {side: Gateway, run: todo},
	"metadata-thread":             {side: Gateway, run: todo},
	"prompt-decline":              {side: Gateway, run: todo},
	"shape-by-destination":        {side: Gateway, run: todo},
	"split-code-block":            {side: Gateway, run: todo},
}
