//go:build windows

package main

import (
	"context"
	"fmt"

	"golang.org/x/sys/windows/svc"
)

// runAsService speaks the Windows service control protocol when the
// Service Control Manager started us (`mailbridge service install`), and
// just runs otherwise. A stop request ends ctx like SIGTERM does elsewhere.
func runAsService(ctx context.Context, run func(context.Context) error) error {
	isService, err := svc.IsWindowsService()
	if err != nil || !isService {
		return run(ctx)
	}
	h := &serviceHandler{ctx: ctx, run: run}
	if err := svc.Run(serviceName, h); err != nil {
		return fmt.Errorf("windows service: %w", err)
	}
	return h.err
}

type serviceHandler struct {
	ctx context.Context
	run func(context.Context) error
	err error
}

func (h *serviceHandler) Execute(_ []string, req <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32) {
	status <- svc.Status{State: svc.StartPending}
	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- h.run(ctx) }()
	status <- svc.Status{State: svc.Running, Accepts: svc.AcceptStop | svc.AcceptShutdown}
	for {
		select {
		case c := <-req:
			switch c.Cmd {
			case svc.Interrogate:
				status <- c.CurrentStatus
			case svc.Stop, svc.Shutdown:
				status <- svc.Status{State: svc.StopPending}
				cancel()
				h.err = <-done
				return false, svcExitCode(h.err)
			}
		case h.err = <-done:
			// Exiting on its own is a failure the SCM's recovery restarts.
			return false, max(svcExitCode(h.err), 1)
		}
	}
}

func svcExitCode(err error) uint32 {
	if err != nil {
		return 1
	}
	return 0
}
