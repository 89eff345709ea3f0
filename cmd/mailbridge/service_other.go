//go:build !windows

package main

import "context"

// runAsService runs the daemon; only Windows has a service protocol to
// speak on top (see service_windows.go).
func runAsService(ctx context.Context, run func(context.Context) error) error { return run(ctx) }
