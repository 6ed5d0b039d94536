// Package fsutil holds the file-system steps durable stores share.
package fsutil

import "os"

// SyncDir fsyncs a directory, so that files created, renamed or removed
// in it survive a crash.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
