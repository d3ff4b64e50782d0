package cli

import (
	"fmt"
	"log/slog"
	"mime"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/amtsbote/amtsbote/xta"
	"github.com/amtsbote/amtsbote/xta/testserver"
)

func xtaCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "xta", Short: "XTA 2: a strict XTA-WS test server"}
	cmd.AddCommand(xtaTestServerCmd())
	return cmd
}

func xtaTestServerCmd() *cobra.Command {
	var dir, listen string
	var accounts, deposits []string
	cmd := &cobra.Command{
		Use:   "testserver",
		Short: "Run a strict XTA-WS 2.1.1 test server on loopback (for trying amtsbote out; not a message broker)",
		Long: `Serves the three XTA-WS ports over TLS with required client certificates, validates every
request against the XTA-WS schemas, keeps a mailbox per identity (status list, fetch, close)
and transport reports (docs/xta.md says what it covers). On its first start it makes a test
PKI in --dir/pki: ca.pem, server.pem/.key, client.pem/.key and client.p12 (password "test");
later starts reuse it. A message sent to a reader lands in that reader's mailbox on this
server. --deposit READER=FILE puts a file (.xml, or .zip for an xdomea package) into a
mailbox at start, as if another authority had sent it; so does a file copied into
--dir/drop/READER/ while the server runs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pki, err := testserver.OpenPKI(filepath.Join(dir, "pki"), "amtsbote XTA test CA", "amtsbote")
			if err != nil {
				return err
			}
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			srv, err := testserver.New(filepath.Join(dir, "broker"), log)
			if err != nil {
				return err
			}
			for _, a := range accounts {
				id, services, _ := strings.Cut(a, "=")
				var svc []string
				if services != "" {
					svc = strings.Split(services, ",")
				}
				srv.AddAccount(xta.Party{ID: id, Type: xta.DefaultPartyType}, svc)
			}
			deposit := func(reader, file string) error {
				ct := mime.TypeByExtension(filepath.Ext(file))
				if ct == "" || strings.HasPrefix(ct, "text/xml") {
					ct = "application/xml"
				}
				id, err := srv.Deposit(xta.MessageMetaData{Author: xta.Party{ID: "gad:099900000000", Type: "xoev", Name: "Testbehörde"},
					Reader: xta.Party{ID: reader, Type: "xoev"}, Service: "urn:xoev-de:xdomea:schema:3.0.0", Undefined: "xdomea",
					MessageType:   xta.Code{ListURI: "urn:de:payloadSchema:elementName", ListVersion: "1.0", Code: messageType(file)},
					PayloadSchema: "urn:xoev-de:xdomea:schema:3.0.0"},
					xta.Content{Filename: filepath.Base(file), ContentType: ct, Path: file})
				if err == nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "deposited %s for %s as %s\n", file, reader, id)
				}
				return err
			}
			for _, d := range deposits {
				reader, file, ok := strings.Cut(d, "=")
				if !ok {
					return usageError{fmt.Errorf("--deposit %q: expected READER=FILE", d)}
				}
				if err := deposit(reader, file); err != nil {
					return usageError{fmt.Errorf("--deposit %s: %w", d, err)}
				}
			}
			drop := filepath.Join(dir, "drop")
			if err := os.MkdirAll(drop, 0o700); err != nil {
				return err
			}
			tlsConfig, err := pki.ServerTLS()
			if err != nil {
				return err
			}
			if err := srv.Start(listen, tlsConfig); err != nil {
				return usageError{err}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			fmt.Fprintf(cmd.ErrOrStderr(), "XTA test server listening (Ctrl-C stops it)\n  management: %s\n  send:       %s\n  msgBox:     %s\n  PKI:        %s\n  messages:   %s\n",
				srv.Endpoint(xta.ManagementPort), srv.Endpoint(xta.SendPort), srv.Endpoint(xta.MsgBoxPort), pki.Dir, filepath.Join(dir, "broker", "messages"))
			go func() {
				for ctx.Err() == nil {
					files, _ := filepath.Glob(filepath.Join(drop, "*", "*"))
					for _, f := range files {
						if strings.HasPrefix(filepath.Base(f), ".") {
							continue
						}
						if err := deposit(filepath.Base(filepath.Dir(f)), f); err != nil {
							fmt.Fprintf(cmd.ErrOrStderr(), "could not deposit %s: %v\n", f, err)
						}
						os.Remove(f)
					}
					select {
					case <-ctx.Done():
					case <-time.After(500 * time.Millisecond):
					}
				}
			}()
			srv.Run(ctx)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "var/xta-test", "directory for the test PKI and the messages")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8443", "address to listen on (loopback)")
	cmd.Flags().StringArrayVar(&accounts, "account", []string{"gad:010100100000", "gad:010200200000=urn:xoev-de:xdomea:schema:3.0.0", "gad:010300300000=urn:xoev-de:xdomea:schema:3.0.0"},
		"an account: IDENTIFIER, or IDENTIFIER=SERVICE,SERVICE for a reader that receives those services")
	cmd.Flags().StringArrayVar(&deposits, "deposit", nil, "READER=FILE: put FILE into READER's mailbox at start")
	return cmd
}

// messageType guesses a deposited file's message type from an xdomea name
// (<ProzessID>_<type>.zip); Abgabe.Abgabe.0401 otherwise.
func messageType(file string) string {
	base := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	if _, t, ok := strings.Cut(base, "_"); ok && strings.Count(t, ".") == 2 {
		return t
	}
	return "Abgabe.Abgabe.0401"
}
