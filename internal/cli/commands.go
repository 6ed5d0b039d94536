package cli

import (
	"log/slog"

	"github.com/spf13/cobra"
)

// commands lists bulwark's verbs. Each verb lives in its own file.
func commands(s Streams, logger func() *slog.Logger) []*cobra.Command {
	return []*cobra.Command{
		newVersionCommand(s),
		newVerifyCommand(s),
		newScanCommand(s, logger),
		newControlsCommand(s),
		newBenchCommand(s),
		newAuditCommand(s),
		newRBACCommand(s),
		newNetpolCommand(s),
		newPostureCommand(s),
		newServeCommand(s),
		newInstallCommand(s),
	}
}
