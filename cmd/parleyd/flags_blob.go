package main

import (
	"flag"
	"time"

	"parley.dev/server"
)

// blobFlags are the attachment store's settings: --blob-ttl,
// --max-blob-size, --blob-quota, --blob-upload-rate, --blob-download-rate.
type blobFlags struct {
	ttl                      time.Duration
	maxSize, quota           int64
	uploadRate, downloadRate rateFlag
}

func (b *blobFlags) register(fs *flag.FlagSet) {
	fs.DurationVar(&b.ttl, "blob-ttl", server.DefaultBlobTTL, "")
	fs.Int64Var(&b.maxSize, "max-blob-size", server.DefaultMaxBlobSize, "")
	fs.Int64Var(&b.quota, "blob-quota", server.DefaultBlobQuota, "")
	b.uploadRate.Rate = server.DefaultBlobUploadRate
	b.downloadRate.Rate = server.DefaultBlobDownloadRate
	fs.Var(&b.uploadRate, "blob-upload-rate", "")
	fs.Var(&b.downloadRate, "blob-download-rate", "")
}

func (b *blobFlags) check() error {
	switch {
	case b.ttl <= 0:
		return usagef("--blob-ttl must be positive")
	case b.maxSize <= 0 || b.quota <= 0:
		return usagef("--max-blob-size and --blob-quota must be positive")
	}
	return nil
}

func (b *blobFlags) apply(s *server.Server) {
	s.BlobTTL, s.MaxBlobSize, s.BlobQuota = b.ttl, b.maxSize, b.quota
	s.BlobUploadRate, s.BlobDownloadRate = b.uploadRate.Rate, b.downloadRate.Rate
}
