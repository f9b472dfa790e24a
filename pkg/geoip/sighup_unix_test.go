//go:build unix

package geoip_test

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/auditlog/auditlog/pkg/geoip"
)

func TestWatchSIGHUP(t *testing.T) {
	r, city := openAlpha(t)

	// A handler of our own: SIGHUP's default action would end the test
	// binary if one arrived while Watch has no handler installed, before it
	// starts or, as delivery is asynchronous, after it stopped. It is never
	// stopped for that reason; a full buffer just drops signals.
	guard := make(chan os.Signal, 1)
	signal.Notify(guard, syscall.SIGHUP)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		// No polling: only the signal can cause the reload.
		r.Watch(ctx, geoip.WatchOptions{SIGHUP: true})
		close(done)
	}()
	defer func() {
		cancel()
		<-done
	}()

	writeCityNamed(t, city, "Bravo")
	// Watch may not be listening yet, so keep signalling until it reacts.
	waitFor(t, "SIGHUP reload", func() bool {
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatalf("kill: %v", err)
		}
		return cityOf(r, probeIP) == "Bravo"
	})
}
