package simulator_test

import (
	"log"
	"log/slog"
	"net/http"
	"os"

	"github.com/amtsbote/amtsbote/fitconnect/simulator"
)

// Running the simulator from a YAML file (see LoadConfigFile for its format). The token URL
// is http://127.0.0.1:8090/token, the Submission API base URL http://127.0.0.1:8090.
func ExampleLoadConfigFile() {
	cfg, err := simulator.LoadConfigFile("fitconnect-simulator.yaml")
	if err != nil {
		log.Fatal(err)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	srv, err := simulator.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	log.Fatal(http.ListenAndServe("127.0.0.1:8090", srv.Handler()))
}
