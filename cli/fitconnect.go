package cli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/spf13/cobra"

	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/daemon"
	"github.com/amtsbote/amtsbote/fitconnect"
	"github.com/amtsbote/amtsbote/fitconnect/sender"
	"github.com/amtsbote/amtsbote/fitconnect/simulator"
	"github.com/amtsbote/amtsbote/store"
)

func fitconnectCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "fitconnect", Short: "FIT-Connect: keys, status of the destinations, event logs, a simulator"}
	cmd.AddCommand(fcKeysCmd(), fcStatusCmd(), fcEventsCmd(), fcSimulatorCmd(), fcSendCmd())
	return cmd
}

func fcKeysCmd() *cobra.Command {
	keys := &cobra.Command{Use: "keys", Short: "Destination keys"}
	var dir, name string
	gen := &cobra.Command{
		Use:   "generate",
		Short: "Make a destination's encryption and signing keys (RSA 4096) and print the public parts for FITKO's self-service portal",
		Long: `Writes four JWK files into --out: encryption.private.jwk and signing.private.jwk (for
amtsbote's configuration: decryption_keys and signing_key; mode 0600, keep them secret) and
encryption.public.jwk and signing.public.jwk, which are printed as well: upload them when you
create the destination in FITKO's self-service portal. The public keys carry a self-signed
certificate, which the test environment accepts; production needs certificates of the
Verwaltungs-PKI (docs/fitconnect.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return err
			}
			files := []string{"encryption.private.jwk", "encryption.public.jwk", "signing.private.jwk", "signing.public.jwk"}
			for _, f := range files {
				if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
					return usageError{fmt.Errorf("%s exists already; amtsbote never overwrites a key (choose another --out)", filepath.Join(dir, f))}
				}
			}
			k, err := fitconnect.GenerateKeys(name)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for i, key := range []jwk.Key{k.EncryptionPrivate, k.EncryptionPublic, k.SigningPrivate, k.SigningPublic} {
				raw, err := json.MarshalIndent(key, "", "  ")
				if err != nil {
					return err
				}
				mode := os.FileMode(0o644)
				if strings.Contains(files[i], "private") {
					mode = 0o600
				}
				if err := os.WriteFile(filepath.Join(dir, files[i]), append(raw, '\n'), mode); err != nil {
					return err
				}
				if !strings.Contains(files[i], "private") {
					fmt.Fprintf(out, "# %s — upload to FITKO's self-service portal\n%s\n\n", files[i], raw)
				}
			}
			fmt.Fprintf(out, "# for amtsbote's configuration (fitconnect.subscriptions[]):\n#   decryption_keys: [%s]\n#   signing_key: %s\n",
				filepath.Join(dir, files[0]), filepath.Join(dir, files[2]))
			return nil
		},
	}
	gen.Flags().StringVar(&dir, "out", "fitconnect-keys", "directory for the key files (created)")
	gen.Flags().StringVar(&name, "name", "amtsbote FIT-Connect destination", "common name of the self-signed certificates")
	keys.AddCommand(gen)
	return keys
}

// loadFitConnect reads the configuration and its FIT-Connect subscriptions.
func loadFitConnect(file string) (*config.Config, []*fitconnect.Subscription, error) {
	cfg, err := config.Load(file)
	if err != nil {
		return nil, nil, usageError{err}
	}
	if len(cfg.FitConnect.Subscriptions) == 0 {
		return nil, nil, usageError{fmt.Errorf("%s configures no FIT-Connect subscriptions (fitconnect.subscriptions)", file)}
	}
	subs, err := fitconnect.Load(cfg)
	if err != nil {
		return nil, nil, usageError{err}
	}
	return cfg, subs, nil
}

func fcStatusCmd() *cobra.Command {
	var file, format string
	var warnAfter time.Duration
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Per destination: submissions waiting at the delivery service, open decisions, the oldest's age",
		Long: `Asks the delivery service which submissions wait for each destination and reads amtsbote's
inbox. It warns about submissions older than --warn-after (FITKO notifies the technical contact
after 3 days and rejects a submission itself after 14) and exits 1 if there is any.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, subs, err := loadFitConnect(file)
			if err != nil {
				return err
			}
			defer func() {
				for _, s := range subs {
					s.Close()
				}
			}()
			// Without a store (amtsbote never ran here) the delivery service's side is still worth
			// seeing.
			st, err := store.OpenShared(cmd.Context(), daemon.StoreOptions(cfg))
			if err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "amtsbote's store cannot be read (%v); showing the delivery service's side only\n", err)
				st = nil
			} else {
				defer st.Close()
			}
			rows, warnings, err := fitconnectStatus(cmd.Context(), st, subs, warnAfter, time.Now())
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if format == "json" {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rows); err != nil {
					return err
				}
			} else {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "SUBSCRIPTION\tDESTINATION\tWAITING AT FIT-CONNECT\tOPEN IN AMTSBOTE\tOLDEST\tLAST ERROR")
				for _, r := range rows {
					waiting := fmt.Sprint(r.Waiting)
					if r.APIError != "" {
						waiting = "? (" + r.APIError + ")"
					}
					oldest := "-"
					if r.OldestAge > 0 {
						oldest = r.OldestAge.Round(time.Minute).String()
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", r.Subscription, r.Destination, waiting, r.Open, oldest, r.LastError)
				}
				tw.Flush()
				for _, warn := range warnings {
					fmt.Fprintln(w, "WARNING:", warn)
				}
			}
			if len(warnings) > 0 {
				return errFailed
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&file, "config", config.DefaultFile, "configuration file (YAML)")
	cmd.Flags().StringVar(&format, "format", "text", "text or json")
	cmd.Flags().DurationVar(&warnAfter, "warn-after", 72*time.Hour, "warn about submissions older than this")
	return cmd
}

type statusRow struct {
	Subscription string        `json:"subscription"`
	Destination  string        `json:"destination"`
	Waiting      int           `json:"waiting"`
	APIError     string        `json:"api_error,omitempty"`
	Open         int           `json:"open"`
	OldestAge    time.Duration `json:"oldest_age_ns"`
	Oldest       string        `json:"oldest_submission,omitempty"`
	LastError    string        `json:"last_error,omitempty"`
}

func fitconnectStatus(ctx context.Context, st *store.Store, subs []*fitconnect.Subscription, warnAfter time.Duration, now time.Time) ([]statusRow, []string, error) {
	var rows []statusRow
	var warnings []string
	for _, s := range subs {
		var open []store.InboxEntry
		if st != nil {
			var err error
			if open, err = st.Inbox(ctx, store.InboxFilter{Subscription: s.Config.ID, Open: true}); err != nil {
				return nil, nil, err
			}
		}
		for _, d := range s.Config.Destinations {
			r := statusRow{Subscription: s.Config.ID, Destination: d.ID}
			known := map[string]bool{}
			for _, e := range open {
				if !strings.EqualFold(e.DestinationID, d.ID) {
					continue
				}
				r.Open++
				known[strings.ToLower(e.SubmissionID)] = true
				since := e.SeenAt
				if !e.SubmittedAt.IsZero() {
					since = e.SubmittedAt
				}
				if age := now.Sub(since); age > r.OldestAge {
					r.OldestAge, r.Oldest, r.LastError = age, e.SubmissionID, e.LastError
				}
			}
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			waiting, err := s.Client.Waiting(cctx, d.ID)
			cancel()
			if err != nil {
				r.APIError = err.Error()
			}
			r.Waiting = len(waiting)
			unseen := 0
			for _, ref := range waiting {
				if !known[strings.ToLower(ref.SubmissionID)] {
					unseen++
				}
			}
			if r.OldestAge > warnAfter {
				warnings = append(warnings, fmt.Sprintf("destination %s: submission %s has waited %s for its decision (FITKO rejects it itself after 14 days): %s",
					d.ID, r.Oldest, r.OldestAge.Round(time.Hour), orNone(r.LastError)))
			}
			if unseen > 0 {
				warnings = append(warnings, fmt.Sprintf("destination %s: %d submission(s) wait at FIT-Connect that amtsbote has not seen yet (is amtsbote running and polling?)", d.ID, unseen))
			}
			rows = append(rows, r)
		}
	}
	return rows, warnings, nil
}

func orNone(s string) string {
	if s == "" {
		return "no error recorded"
	}
	return "last error: " + s
}

func fcEventsCmd() *cobra.Command {
	var file, subscription string
	cmd := &cobra.Command{
		Use:   "events CASE-ID",
		Short: "A case's event log from the delivery service, each event's signature verified",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, subs, err := loadFitConnect(file)
			if err != nil {
				return err
			}
			defer func() {
				for _, s := range subs {
					s.Close()
				}
			}()
			sub := subs[0]
			for _, s := range subs {
				if s.Config.ID == subscription {
					sub = s
				}
			}
			events, err := sub.Client.Events(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			keys, err := sub.Client.ServiceKeys(cmd.Context(), true)
			if err != nil {
				return err
			}
			ownKey, err := jwk.PublicKeyOf(sub.Signing)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			bad := 0
			for i, token := range events {
				line, ok := describeEvent(token, keys, ownKey, sub)
				if !ok {
					bad++
				}
				fmt.Fprintf(w, "%d. %s\n", i+1, line)
			}
			if len(events) == 0 {
				fmt.Fprintln(w, "the event log is empty")
			}
			if bad > 0 {
				fmt.Fprintf(w, "%d event(s) did not verify\n", bad)
				return errFailed
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&file, "config", config.DefaultFile, "configuration file (YAML)")
	cmd.Flags().StringVar(&subscription, "subscription", "", "the subscription whose client asks (default: the first)")
	return cmd
}

// describeEvent verifies one SET — the delivery service's with its published keys, a
// destination's own with amtsbote's signing key — and says what it records.
func describeEvent(token string, serviceKeys jwk.Set, own jwk.Key, sub *fitconnect.Subscription) (string, bool) {
	_, _, kid, err := fitconnect.SETHeader(token)
	if err != nil {
		return "unreadable event: " + err.Error(), false
	}
	var key jwk.Key
	issuer := "the delivery service"
	if k, ok := serviceKeys.LookupKeyID(kid); ok {
		key = k
	} else if kid == fitconnect.KeyID(own) {
		key, issuer = own, "amtsbote (this destination)"
	}
	if key == nil {
		return fmt.Sprintf("NOT VERIFIED: signed with key %q, which is neither the delivery service's nor amtsbote's", kid), false
	}
	set, err := fitconnect.Verify(token, key, false)
	if err != nil {
		return fmt.Sprintf("NOT VERIFIED (%s): %v", issuer, err), false
	}
	event, raw := set.Event()
	name := strings.TrimPrefix(event, fitconnect.EventBase)
	desc := fmt.Sprintf("%s  %s  by %s, %s, verified", time.Unix(set.Iat, 0).UTC().Format(time.RFC3339), name, issuer, set.Sub)
	if p, err := fitconnect.Payload(raw, false); err == nil {
		for _, pr := range p.Problems {
			desc += fmt.Sprintf("\n     problem %s (%s): %s", pr.Name(), pr.Instance, pr.Detail)
		}
		if t := p.AuthenticationTags; t != nil {
			desc += fmt.Sprintf("\n     authentication tags: metadata, %s, %d attachment(s)", map[bool]string{true: "data", false: "no data"}[t.Data != ""], len(t.Attachments))
		}
	}
	return desc, true
}

func fcSimulatorCmd() *cobra.Command {
	var file, listen string
	cmd := &cobra.Command{
		Use:   "simulator",
		Short: "Run a FIT-Connect delivery-service simulator on loopback (for trying amtsbote out; not FIT-Connect itself)",
		Long: `Serves the Submission API v1 as the simulator implements it (docs/fitconnect.md says what it
covers): a token endpoint, destinations with their public keys, the sender and subscriber calls,
event logs with signed events and callbacks with an HMAC. The demo's simulator configuration
knows the demo destination, its keys and the demo's callback URL.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sc, err := simulator.LoadConfigFile(file)
			if err != nil {
				return usageError{err}
			}
			sim, err := simulator.New(sc)
			if err != nil {
				return usageError{err}
			}
			defer sim.Close()
			return serveUntilSignal(cmd, listen, "FIT-Connect simulator", sim.Handler())
		},
	}
	cmd.Flags().StringVar(&file, "config", "fixtures/demo/fitconnect/simulator.yaml", "simulator configuration (YAML)")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8090", "address to listen on (loopback)")
	return cmd
}

// demoSubmission is the portal JSON of fixtures/demo/submission.json.
type demoSubmission struct {
	Leistung    string          `json:"leistung"`
	Reference   string          `json:"reference"`
	Data        json.RawMessage `json:"data"`
	Attachments []struct {
		Filename  string `json:"filename"`
		MediaType string `json:"media_type"`
		Title     string `json:"title"`
		Content   string `json:"content_base64"`
	} `json:"attachments"`
}

func fcSendCmd() *cobra.Command {
	var apiURL, tokenURL, clientID, secret, destination, schemaURI, serviceName, trustLevel string
	cmd := &cobra.Command{
		Use:   "send SUBMISSION.json",
		Short: "Send an application through a FIT-Connect delivery service as an online service does (for the simulator)",
		Long: `Reads an application in the form of the portal API (fixtures/demo/submission.json), encrypts it
for the destination's public key and submits it: metadata with SHA-512 hashes, the data and the
attachments as JWEs. The defaults fit the demo simulator.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			raw, err := os.ReadFile(args[0])
			if err != nil {
				return usageError{err}
			}
			var in demoSubmission
			if err := json.Unmarshal(raw, &in); err != nil {
				return usageError{fmt.Errorf("%s: %v", args[0], err)}
			}
			app := sender.Application{
				DestinationID: destination, Data: in.Data, DataSchemaURI: schemaURI, DataMimeType: "application/json",
				Service:  fitconnect.ServiceType{Name: serviceName, Identifier: "urn:de:fim:leika:leistung:" + in.Leistung},
				Metadata: map[string]any{},
			}
			if in.Reference != "" {
				app.Metadata["additionalReferenceInfo"] = map[string]any{"senderReference": in.Reference,
					"applicationDate": time.Now().Format("2006-01-02")}
			}
			if trustLevel != "" {
				report, _ := json.Marshal(map[string]any{"levelOfAssurance": trustLevel})
				app.Metadata["authenticationInformation"] = []any{map[string]any{"type": "identificationReport",
					"version": "1.0.0", "content": base64.RawURLEncoding.EncodeToString(report)}}
			}
			for _, a := range in.Attachments {
				content, err := base64.StdEncoding.DecodeString(a.Content)
				if err != nil {
					return usageError{fmt.Errorf("%s: attachment %s: %v", args[0], a.Filename, err)}
				}
				app.Attachments = append(app.Attachments, sender.Attachment{Filename: a.Filename, MimeType: a.MediaType,
					Description: a.Title, Content: content})
			}
			if tokenURL == "" {
				tokenURL = strings.TrimRight(apiURL, "/") + "/token"
			}
			s := sender.Sender{API: fitconnect.NewClient(apiURL, "v1", tokenURL, clientID, secret, "", time.Minute)}
			ctx := cmd.Context()
			key, err := s.EncryptionKey(ctx, destination)
			if err != nil {
				return err
			}
			p := sender.Prepare(app)
			if err := p.Seal(key); err != nil {
				return err
			}
			if err := s.Send(ctx, p); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "submitted: submission %s, case %s, destination %s (%d attachment(s))\n",
				p.SubmissionID, p.CaseID, destination, len(app.Attachments))
			return nil
		},
	}
	cmd.Flags().StringVar(&apiURL, "api-url", "http://127.0.0.1:8090", "the delivery service's Submission API")
	cmd.Flags().StringVar(&tokenURL, "token-url", "", "token endpoint (default: <api-url>/token)")
	cmd.Flags().StringVar(&clientID, "client-id", "demo-sender", "the sender's client id")
	cmd.Flags().StringVar(&secret, "client-secret", "demo-sender-secret-not-for-production", "the sender's client secret")
	cmd.Flags().StringVar(&destination, "destination", demoDestination, "destination id")
	cmd.Flags().StringVar(&schemaURI, "schema-uri", "urn:amtsbote:demo:schema:gewerbeanmeldung:1.0", "schemaUri of the data")
	cmd.Flags().StringVar(&serviceName, "service-name", "Gewerbeanmeldung", "name of the service")
	cmd.Flags().StringVar(&trustLevel, "trust-level", "http://eidas.europa.eu/LoA/substantial", "level of assurance in the identification report (\"\": none)")
	return cmd
}

// demoDestination is the demo's FIT-Connect destination (fixtures/demo/fitconnect/).
const demoDestination = "5f7c2a1e-8b3d-4e6f-9a0b-1c2d3e4f5a6b"
