package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit codes.
const (
	ExitOK       = 0
	ExitFindings = 1
	ExitUsage    = 2
)

// Streams are the command's standard streams.
type Streams struct {
	In       io.Reader
	Out, Err io.Writer
}

// ExitError carries an exit code; a nil Err exits silently.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// usageError marks an error as bad usage or bad input (exit 2).
func usageError(err error) error { return &ExitError{Code: ExitUsage, Err: err} }

// Main runs the command line and exits.
func Main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Run(ctx, os.Args[1:], Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
	stop()
	os.Exit(code)
}

// Run executes bulwark with args and returns the exit code.
func Run(ctx context.Context, args []string, s Streams) int {
	root := NewRootCommand(s)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee.Err != nil {
			fmt.Fprintf(s.Err, "error: %v\n", ee.Err)
		}
		return ee.Code
	}
	fmt.Fprintf(s.Err, "error: %v\n", err)
	return ExitUsage
}

// NewRootCommand builds the bulwark command tree.
func NewRootCommand(s Streams) *cobra.Command {
	var verbose bool
	root := &cobra.Command{
		Use:   "bulwark",
		Short: "Make a Kubernetes cluster meet the secure-cluster baseline, and prove it",
		Long: `Bulwark blocks what breaks the secure-cluster baseline at admission, finds
what already breaks it, watches the audit log, and reports compliance
requirement by requirement. Policies are OPA Gatekeeper ConstraintTemplates.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().BoolVarP(&verbose, "verbose", "v", false, "log debug messages to standard error")
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError(err) })
	logger := func() *slog.Logger {
		level := slog.LevelWarn
		if verbose {
			level = slog.LevelDebug
		}
		return slog.New(slog.NewTextHandler(s.Err, &slog.HandlerOptions{Level: level}))
	}
	root.AddCommand(commands(s, logger)...)
	return root
}

// argsAtLeast wraps cobra's argument validators as usage errors.
func argsAtLeast(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.MinimumNArgs(n)(cmd, args); err != nil {
			return usageError(err)
		}
		return nil
	}
}
