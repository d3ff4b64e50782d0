package cli

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

// serveUntilSignal serves a test double (a simulator) on listen until SIGINT or SIGTERM, and
// says on stderr where it listens.
func serveUntilSignal(cmd *cobra.Command, listen, what string, h http.Handler) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return usageError{err}
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { <-ctx.Done(); srv.Close() }()
	fmt.Fprintf(cmd.ErrOrStderr(), "%s listening on http://%s (Ctrl-C stops it)\n", what, ln.Addr())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
