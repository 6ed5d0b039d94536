package archive

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	// Bucket drivers: azblob://, s3://, file://.
	_ "gocloud.dev/blob/azureblob"
	_ "gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/s3blob"

	"github.com/bulwark-k8s/bulwark/internal/fsutil"
)

// objectTimeout bounds one small bucket call (a list page, a checkpoint).
const objectTimeout = time.Minute

// openBucket opens the bucket at rawURL. For file:// URLs it returns the
// directory objects are stored in, so uploads can be fsynced, and with
// create it creates the directory. Temporary files are created next to
// the objects (no_tmp_dir) so the final rename never crosses devices.
func openBucket(ctx context.Context, rawURL string, create bool) (*blob.Bucket, string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, "", fmt.Errorf("audit archive: bucket URL: %w", err)
	}
	root := ""
	if u.Scheme == "file" {
		q := u.Query()
		if create && q.Get("create_dir") == "" {
			q.Set("create_dir", "true")
		}
		if q.Get("no_tmp_dir") == "" {
			q.Set("no_tmp_dir", "true")
		}
		u.RawQuery = q.Encode()
		root = filepath.FromSlash(u.Path)
		if u.Host == "." {
			root = strings.TrimPrefix(root, string(filepath.Separator))
		}
		if !create {
			if _, err := os.Stat(root); err != nil {
				return nil, "", fmt.Errorf("audit archive: bucket %s: %w", redactURL(rawURL), err)
			}
		}
		root = filepath.Join(root, filepath.FromSlash(q.Get("prefix")))
	}
	b, err := blob.OpenBucket(ctx, u.String())
	if err != nil {
		return nil, "", fmt.Errorf("audit archive: open bucket %s: %w", redactURL(rawURL), err)
	}
	return b, root, nil
}

// redactURL drops the query of a bucket URL (it may carry credentials)
// for logs and errors.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.RawQuery, u.User = "", nil
	return u.String()
}

// putFile uploads a local file unless the object exists; an existing
// object with the same SHA-256 (an upload repeated after a crash) is
// success, a different one an error: an object is never overwritten.
// Digests not known (zero, nil) are computed from the file.
func (a *Archive) putFile(ctx context.Context, key, path string, sum Hash, md5sum []byte, contentType string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if sum == (Hash{}) || md5sum == nil {
		m, s := md5.New(), sha256.New()
		if _, err := io.Copy(io.MultiWriter(m, s), f); err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		sum, md5sum = sumOf(s), m.Sum(nil)
	}
	return a.put(ctx, key, f, md5sum, sum, contentType)
}

func (a *Archive) putBytes(ctx context.Context, key string, data []byte, contentType string) error {
	m := md5.Sum(data)
	return a.put(ctx, key, bytes.NewReader(data), m[:], sha256.Sum256(data), contentType)
}

func (a *Archive) put(ctx context.Context, key string, r io.Reader, md5sum []byte, sum Hash, contentType string) error {
	err := write(ctx, a.bucket, key, r, &blob.WriterOptions{
		ContentType: contentType, ContentMD5: md5sum, IfNotExist: true,
		DisableContentTypeDetection: true,
	})
	if err != nil {
		if gcerrors.Code(err) != gcerrors.FailedPrecondition {
			return fmt.Errorf("upload %s: %w", key, err)
		}
		have, rerr := objectSum(ctx, a.bucket, key)
		if rerr != nil {
			return fmt.Errorf("upload %s: exists; %w", key, rerr)
		}
		if have != sum {
			return fmt.Errorf("upload %s: the bucket already holds a different object there (sha256 %s, ours %s): is another archive writing to this bucket?", key, have, sum)
		}
	}
	return a.syncObject(key)
}

// syncObject fsyncs an object of a file:// bucket and its directory;
// fileblob does not.
func (a *Archive) syncObject(key string) error {
	if a.fileRoot == "" {
		return nil
	}
	p := filepath.Join(a.fileRoot, filepath.FromSlash(key))
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("fsync %s: %w", p, err)
	}
	err = f.Sync()
	f.Close()
	if err != nil {
		return fmt.Errorf("fsync %s: %w", p, err)
	}
	for d := filepath.Dir(p); len(d) >= len(a.fileRoot); d = filepath.Dir(d) {
		if err := fsutil.SyncDir(d); err != nil {
			return fmt.Errorf("fsync %s: %w", d, err)
		}
		if d == a.fileRoot || d == filepath.Dir(d) {
			break
		}
	}
	return nil
}

func write(ctx context.Context, b *blob.Bucket, key string, r io.Reader, o *blob.WriterOptions) error {
	w, err := b.NewWriter(ctx, key, o)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, r); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

func objectSum(ctx context.Context, b *blob.Bucket, key string) (Hash, error) {
	r, err := b.NewReader(ctx, key, nil)
	if err != nil {
		return Hash{}, err
	}
	defer r.Close()
	d := sha256.New()
	if _, err := io.Copy(d, r); err != nil {
		return Hash{}, err
	}
	return sumOf(d), nil
}

// readObject reads a small object.
func readObject(ctx context.Context, b *blob.Bucket, key string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, objectTimeout)
	defer cancel()
	r, err := b.NewReader(ctx, key, nil)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	return data, nil
}

func deleteObject(ctx context.Context, b *blob.Bucket, key string) error {
	ctx, cancel := context.WithTimeout(ctx, objectTimeout)
	defer cancel()
	if err := b.Delete(ctx, key); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

func isNotFound(err error) bool { return gcerrors.Code(err) == gcerrors.NotFound }

// listKeys lists the keys under prefix; each page has its own timeout.
// A listing that fails because an object vanished while it ran (fileblob
// lists temporary upload files, then cannot stat them) starts again.
func listKeys(ctx context.Context, b *blob.Bucket, prefix string, fn func(key string)) error {
	var keys []string
	var err error
	for range 5 {
		if keys, err = listOnce(ctx, b, prefix); err == nil || !isNotFound(err) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("list %s: %w", prefix, err)
	}
	for _, k := range keys {
		fn(k)
	}
	return nil
}

func listOnce(ctx context.Context, b *blob.Bucket, prefix string) ([]string, error) {
	var keys []string
	it := b.List(&blob.ListOptions{Prefix: prefix})
	for {
		pctx, cancel := context.WithTimeout(ctx, objectTimeout)
		obj, err := it.Next(pctx)
		cancel()
		if err == io.EOF {
			return keys, nil
		}
		if err != nil {
			return nil, err
		}
		if !obj.IsDir {
			keys = append(keys, obj.Key)
		}
	}
}

// listCheckpoints returns the sequence numbers of the checkpoints in the
// bucket, in order.
func listCheckpoints(ctx context.Context, b *blob.Bucket) ([]uint64, error) {
	m := map[uint64]string{}
	err := listKeys(ctx, b, checkpointsDir, func(key string) {
		if seq, ok := parseCheckpointKey(key); ok {
			m[seq] = key
		}
	})
	return sortedSeqs(m), err
}

// listSegments maps the sequence numbers of the segments in the bucket to
// their keys.
func listSegments(ctx context.Context, b *blob.Bucket) (map[uint64]string, error) {
	m := map[uint64]string{}
	err := listKeys(ctx, b, segmentsDir, func(key string) {
		if seq, ok := parseSegmentKey(key); ok {
			m[seq] = key
		}
	})
	return m, err
}

// readRetention reads retention.json; nil when there is none.
func readRetention(ctx context.Context, b *blob.Bucket) (*retentionRecord, error) {
	data, err := readObject(ctx, b, retentionKey)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	rec := &retentionRecord{}
	if err := json.Unmarshal(data, rec); err != nil {
		return nil, fmt.Errorf("%s: %w", retentionKey, err)
	}
	if rec.Version != 1 {
		return nil, fmt.Errorf("%s: version %d is not 1", retentionKey, rec.Version)
	}
	if got := fmt.Sprintf("%x", sha256.Sum256([]byte(rec.Checkpoint))); got != rec.CheckpointSHA256 {
		return nil, fmt.Errorf("%s: its checkpoint's digest is %s, not the recorded %s", retentionKey, got, rec.CheckpointSHA256)
	}
	c, err := decodeCheckpoint([]byte(rec.Checkpoint), retentionKey)
	if err != nil {
		return nil, err
	}
	if c.Sequence != rec.Through {
		return nil, fmt.Errorf("%s: through %d but holds the checkpoint of segment %d", retentionKey, rec.Through, c.Sequence)
	}
	return rec, nil
}

func writeRetention(ctx context.Context, b *blob.Bucket, rec *retentionRecord) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, objectTimeout)
	defer cancel()
	if err := b.WriteAll(ctx, retentionKey, append(data, '\n'), &blob.WriterOptions{ContentType: "application/json"}); err != nil {
		return fmt.Errorf("write %s: %w", retentionKey, err)
	}
	return nil
}

// bucketHead returns the last checkpoint in the bucket (or the one
// retention recorded, when it is later); nil for an empty bucket.
func bucketHead(ctx context.Context, b *blob.Bucket) (*head, error) {
	rec, err := readRetention(ctx, b)
	if err != nil {
		return nil, err
	}
	seqs, err := listCheckpoints(ctx, b)
	if err != nil {
		return nil, err
	}
	if n := len(seqs); n > 0 && (rec == nil || seqs[n-1] > rec.Through) {
		key := checkpointKey(seqs[n-1])
		raw, err := readObject(ctx, b, key)
		if err != nil {
			return nil, err
		}
		return newHead(raw, key)
	}
	if rec != nil {
		return newHead([]byte(rec.Checkpoint), retentionKey)
	}
	if segs, err := listSegments(ctx, b); err != nil {
		return nil, err
	} else if len(segs) > 0 {
		return nil, errors.New("the bucket holds segments but no checkpoint: not continuing a chain that cannot be verified")
	}
	return nil, nil
}
