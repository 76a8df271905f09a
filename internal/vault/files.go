package vault

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"parley.dev/internal/stream"
)

// Files: large values (attachments) that do not fit in a record live in
// files under dir/files, each encrypted with internal/stream under its own
// key, so memory stays bounded whatever their size:
//
//	file    = magic "PARLEYVF" | u8 version (1) | salt (32, random) | stream
//	fileKey = HKDF(dataKey, salt, "parley.dev/vault/v1/file" | 0x00 | name)
//	path    = dir/files/ + hex(HMAC(indexKey, 0x03 | name))[:32]
//
// A fresh salt per file gives every file its own key, so no (key, nonce)
// pair repeats even across a rollback; the name in the key binds a file to
// its name (a file moved to another name fails to decrypt). Writes go to
// a ".part" file, fsynced and renamed when committed: a file is either
// whole and authentic or absent. Nothing of a file is on disk in the clear.
const (
	filesDir       = "files"
	fileMagic      = "PARLEYVF"
	fileVersion    = 1
	fileHeaderSize = len(fileMagic) + 1 + saltSize
	partSuffix     = ".part"
	labelFile      = "parley.dev/vault/v1/file"
	fileNameTag    = 0x03 // domain byte of the path HMAC (records use 1, 2)
	// MaxFileNameLen bounds a file's name.
	MaxFileNameLen = 255
)

func (v *Vault) filePath(name string) (string, error) {
	if name == "" || len(name) > MaxFileNameLen {
		return "", fmt.Errorf("%w: file name of %d bytes", ErrInvalid, len(name))
	}
	var p string
	err := v.view(func(tx *Tx) error {
		m := mac(tx.keys.index.bytes(), []byte{fileNameTag}, []byte(name))
		p = filepath.Join(v.dir, filesDir, hex.EncodeToString(m[:16]))
		return nil
	})
	return p, err
}

func (v *Vault) fileKey(salt []byte, name string) (*stream.Key, error) {
	var k *stream.Key
	err := v.view(func(*Tx) error {
		b := derive(v.dataKey.bytes(), salt, labelFile+"\x00"+name, stream.KeySize)
		defer clear(b)
		var err error
		k, err = stream.NewKey(b)
		return err
	})
	return k, err
}

// FileWriter writes one vault file. Call Commit to keep it, or Abort.
type FileWriter struct {
	f    *os.File
	path string
	w    *stream.Writer
	key  *stream.Key
}

// CreateFile starts writing the file name (replacing a partial one; a
// committed file of that name is replaced at Commit).
func (v *Vault) CreateFile(name string) (*FileWriter, error) {
	path, err := v.filePath(name)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), dirMode); err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	f, err := os.OpenFile(path+partSuffix, os.O_RDWR|os.O_CREATE|os.O_TRUNC, fileMode)
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	hdr := make([]byte, fileHeaderSize)
	copy(hdr, fileMagic)
	hdr[len(fileMagic)] = fileVersion
	randomBytes(hdr[len(fileMagic)+1:])
	key, err := v.fileKey(hdr[len(fileMagic)+1:], name)
	if err == nil {
		_, err = f.Write(hdr)
	}
	var w *stream.Writer
	if err == nil {
		w, err = stream.NewWriter(f, key)
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("vault: %w", err)
	}
	return &FileWriter{f: f, path: path, w: w, key: key}, nil
}

// ResumeFile continues the partial file name after its first chunks
// chunks of stream.ChunkSize plaintext bytes (FileWriter.Chunks after a
// Sync), dropping anything written after them.
func (v *Vault) ResumeFile(name string, chunks uint64) (*FileWriter, error) {
	path, err := v.filePath(name)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path+partSuffix, os.O_RDWR, fileMode)
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	fail := func(err error) (*FileWriter, error) { f.Close(); return nil, err }
	hdr := make([]byte, fileHeaderSize+stream.HeaderSize)
	if _, err := io.ReadFull(f, hdr); err != nil || string(hdr[:len(fileMagic)]) != fileMagic || hdr[len(fileMagic)] != fileVersion {
		return fail(corrupt("partial file header"))
	}
	sh, err := stream.ParseHeader(hdr[fileHeaderSize:])
	if err != nil {
		return fail(corrupt("partial file header"))
	}
	end := int64(len(hdr)) + int64(chunks)*stream.EncChunkSize
	if st, err := f.Stat(); err != nil || st.Size() < end {
		return fail(corrupt("partial file shorter than its %d chunks", chunks))
	}
	if err := f.Truncate(end); err != nil {
		return fail(fmt.Errorf("vault: %w", err))
	}
	if _, err := f.Seek(end, io.SeekStart); err != nil {
		return fail(fmt.Errorf("vault: %w", err))
	}
	key, err := v.fileKey(hdr[len(fileMagic)+1:fileHeaderSize], name)
	if err != nil {
		return fail(err)
	}
	return &FileWriter{f: f, path: path, w: stream.ResumeWriter(f, key, sh, chunks), key: key}, nil
}

// Write encrypts p into the file.
func (w *FileWriter) Write(p []byte) (int, error) { return w.w.Write(p) }

// Chunks returns how many chunks are in the file (not counting the one
// being filled).
func (w *FileWriter) Chunks() uint64 { return w.w.Chunks() }

// Sync makes the chunks written so far durable (see ResumeFile).
func (w *FileWriter) Sync() error { return w.f.Sync() }

// Commit finishes the file, makes it durable and gives it its name.
func (w *FileWriter) Commit() error {
	defer w.key.Wipe()
	err := w.w.Close()
	if err == nil {
		err = w.f.Sync()
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(w.f.Name(), w.path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(w.path))
	}
	if err != nil {
		os.Remove(w.f.Name())
		return fmt.Errorf("vault: committing a file: %w", err)
	}
	return nil
}

// Close closes the partial file without committing it; ResumeFile may
// continue it later.
func (w *FileWriter) Close() error {
	w.key.Wipe()
	return w.f.Close()
}

// Abort removes the partial file.
func (w *FileWriter) Abort() error {
	w.Close()
	return os.Remove(w.f.Name())
}

// FileReader reads a committed vault file: io.Reader, io.Seeker and
// io.ReaderAt over the plaintext, each chunk authenticated before use.
type FileReader struct {
	*stream.ReaderAt
	f *os.File
}

// Close closes the file.
func (r *FileReader) Close() error { return r.f.Close() }

// OpenFile opens the committed file name: ErrNotFound if there is none,
// ErrCorrupt if it fails authentication.
func (v *Vault) OpenFile(name string) (*FileReader, error) {
	path, err := v.filePath(name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	st, err := f.Stat()
	hdr := make([]byte, fileHeaderSize)
	if err != nil || st.Size() < int64(fileHeaderSize) {
		f.Close()
		return nil, corrupt("file too short")
	}
	if _, err := io.ReadFull(f, hdr); err != nil || string(hdr[:len(fileMagic)]) != fileMagic || hdr[len(fileMagic)] != fileVersion {
		f.Close()
		return nil, corrupt("file header")
	}
	key, err := v.fileKey(hdr[len(fileMagic)+1:], name)
	if err != nil {
		f.Close()
		return nil, err
	}
	defer key.Wipe()
	body := io.NewSectionReader(f, int64(fileHeaderSize), st.Size()-int64(fileHeaderSize))
	ra, err := stream.NewReaderAt(body, body.Size(), key)
	if err != nil {
		f.Close()
		return nil, corrupt("file: %v", err)
	}
	return &FileReader{ReaderAt: ra, f: f}, nil
}

// RemoveFile deletes the file name and any partial one. Removing nothing
// is not an error.
func (v *Vault) RemoveFile(name string) error {
	path, err := v.filePath(name)
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range []string{path, path + partSuffix} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
