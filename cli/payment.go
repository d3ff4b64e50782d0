package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/amtsbote/amtsbote/config"
	"github.com/amtsbote/amtsbote/payment"
	"github.com/amtsbote/amtsbote/payment/simulator"
)

func paymentCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "payment", Short: "E-Payment (XBezahldienste): read a payment, a simulator of a payment platform"}
	cmd.AddCommand(paymentCheckCmd(), paymentSimulatorCmd())
	return cmd
}

func paymentCheckCmd() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "check PROVIDER [TRANSACTION-ID]",
		Short: "Read a payment transaction at a configured provider, or ask whether the provider knows amtsbote's mandant",
		Long: `With a transaction id, reads the transaction as the pipeline does and prints its status,
reference (Kassenzeichen) and payment method. Without one, asks the platform's status endpoint
whether originator_id and endpoint_id are configured there — a check of the URL, the
credentials and the mandant before the first submission waits for a payment.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := config.Load(file)
			if err != nil {
				return usageError{err}
			}
			provs, err := payment.Load(cfg)
			if err != nil {
				return usageError{err}
			}
			p, ok := provs[args[0]]
			if !ok {
				return usageError{fmt.Errorf("%s configures no payment provider %q (payment.providers)", file, args[0])}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), p.Config.Timeout+5*time.Second)
			defer cancel()
			out := cmd.OutOrStdout()
			if len(args) == 1 {
				if err := p.Client.Ping(ctx); err != nil {
					return err
				}
				fmt.Fprintf(out, "%s: %s knows the mandant %s/%s\n", p.Config.ID, p.Config.APIURL, p.Config.OriginatorID, p.Config.EndpointID)
				return nil
			}
			tx, err := p.Client.Transaction(ctx, args[1])
			if err != nil {
				return err
			}
			in := tx.Information
			fmt.Fprintf(out, "transaction %s at %s: %s\n", in.TransactionID, p.Config.ID, in.Status)
			for _, kv := range [][2]string{{"reference", in.TransactionReference}, {"payment method", in.PaymentMethod},
				{"paid at", in.TransactionTimestamp}, {"detail", in.StatusDetail}, {"pay page", in.TransactionRedirectURL}} {
				if kv[1] != "" {
					fmt.Fprintf(out, "  %s: %s\n", kv[0], kv[1])
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&file, "config", config.DefaultFile, "configuration file (YAML)")
	return cmd
}

func paymentSimulatorCmd() *cobra.Command {
	var file, listen string
	cmd := &cobra.Command{
		Use:   "simulator",
		Short: "Run a simulator of an E-Payment platform's XBezahldienste interface on loopback (for trying amtsbote out)",
		Long: `Serves XBezahldienste 1.0.0 as the simulator implements it (docs/payment.md says what it
covers): starting and reading payment transactions with HTTP Basic or an OAuth token, a pay
page at /paypage/<transaction id> where a payment is paid, cancelled or made to fail, and a
signed notification to amtsbote on every change. Control calls under /simulator/ set states
and inject faults. The payment demo's configuration knows the demo mandant, amtsbote as its
client and the open payment DEMO-TX-1.`,
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
			return serveUntilSignal(cmd, listen, "payment platform simulator", sim.Handler())
		},
	}
	cmd.Flags().StringVar(&file, "config", "fixtures/demo/payment/simulator.yaml", "simulator configuration (YAML)")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8091", "address to listen on (loopback)")
	return cmd
}
